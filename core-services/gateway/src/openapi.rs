//! The public API document: every upstream's `/openapi.json`, paths rewritten to their public
//! prefixes, only the paths the route table exposes, merged into one document.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::Gateway;

/// `GET /api/v1/openapi.json`.
pub async fn merged(State(gateway): State<Gateway>) -> Json<Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut missing = Vec::new();
    let mut upstreams: Vec<&str> = gateway.routes.iter().map(|r| r.upstream.as_str()).collect();
    upstreams.sort_unstable();
    upstreams.dedup();
    for upstream in upstreams {
        let Some(base) = gateway.proxy.base(upstream) else {
            continue;
        };
        let document: Value = match client.get(format!("{base}/openapi.json")).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let Some(upstream_paths) = document["paths"].as_object() else {
            missing.push(upstream.to_owned());
            continue;
        };
        for (path, item) in upstream_paths {
            // The longest public prefix whose target covers this upstream path.
            let route = gateway
                .routes
                .iter()
                .filter(|r| r.upstream == upstream)
                .filter(|r| path == &r.target || path.starts_with(&format!("{}/", r.target)))
                .max_by_key(|r| r.target.len());
            if let Some(route) = route {
                let public = format!("{}{}", route.prefix, &path[route.target.len()..]);
                paths.insert(public, item.clone());
            }
        }
        if let Some(found) = document["components"]["schemas"].as_object() {
            for (name, schema) in found {
                schemas.insert(name.clone(), schema.clone());
            }
        }
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "retail-platform public API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": if missing.is_empty() { String::new() } else { format!("unavailable upstreams: {}", missing.join(", ")) },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "paths": paths,
    }))
}
