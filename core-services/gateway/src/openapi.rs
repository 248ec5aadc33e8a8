//! The public API document: every upstream's `/openapi.json` (HTTP services fetched directly,
//! functions invoked like any request), paths rewritten to their public prefixes, only the
//! paths the route table exposes, merged into one document.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use serde_json::{Map, Value, json};

use crate::Gateway;

/// Largest upstream document read.
const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The document of a Lambda upstream, or `null` when it cannot be had.
async fn from_function(gateway: &Gateway, upstream: &str) -> Value {
    let Ok(request) = Request::get("/openapi.json").body(Body::empty()) else {
        return Value::Null;
    };
    let response = gateway
        .proxy
        .forward(upstream, "/openapi.json", request, None, "127.0.0.1")
        .await;
    if !response.status().is_success() {
        return Value::Null;
    }
    match axum::body::to_bytes(response.into_body(), MAX_DOCUMENT_BYTES).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

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
        let document: Value = match gateway.proxy.base(upstream) {
            Some(base) => match client.get(format!("{base}/openapi.json")).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            },
            // A function upstream: asked through the same invoke path as any request.
            None => from_function(&gateway, upstream).await,
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
