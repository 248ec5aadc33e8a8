//! The public API document: every upstream's `/openapi.json` (HTTP services fetched directly,
//! functions invoked like any request), paths rewritten to their public prefixes, only the
//! paths the route table exposes, merged into one document.
//!
//! The route is anonymous, so it is built at most once per [`FRESH`] (once per
//! [`FRESH_INCOMPLETE`] while an upstream does not answer), by one request while the others
//! wait for it, and served from memory with an `ETag` (304 on a match) in between. It counts
//! against the anonymous rate limit like any public route.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::Gateway;

/// How long a document built from every upstream is served before it is built again.
pub const FRESH: Duration = Duration::from_secs(60);
/// The same for a document that lacks an upstream (it did not answer).
pub const FRESH_INCOMPLETE: Duration = Duration::from_secs(5);

/// The last merged document.
#[derive(Debug, Default)]
pub struct DocumentCache {
    last: tokio::sync::Mutex<Option<Built>>,
}

#[derive(Debug, Clone)]
struct Built {
    at: Instant,
    complete: bool,
    body: Bytes,
    etag: HeaderValue,
}

impl DocumentCache {
    /// The document, built again when stale; concurrent callers wait for one build.
    async fn get(&self, gateway: &Gateway) -> Built {
        let mut last = self.last.lock().await;
        if let Some(built) = last.as_ref() {
            let fresh = if built.complete {
                FRESH
            } else {
                FRESH_INCOMPLETE
            };
            if built.at.elapsed() < fresh {
                return built.clone();
            }
        }
        let (document, complete) = build(gateway).await;
        let body = Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
        // A validator, not a secret: any stable hash of the bytes will do.
        let tag = {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::hash::DefaultHasher::new();
            body.hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        };
        let built = Built {
            at: Instant::now(),
            complete,
            body,
            etag: HeaderValue::from_str(&format!("\"{tag}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
        };
        *last = Some(built.clone());
        built
    }
}

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

/// `GET /api/v1/openapi.json`: rate-limited as an anonymous request, then the cached document.
pub async fn merged(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let ip = service_kit::http::client_address(&headers, peer.ip(), gateway.trusted_proxy_hops);
    let decision = gateway.anonymous.check(&crate::ratelimit::client_of(ip));
    if !decision.allowed {
        return decision.refusal();
    }
    let built = gateway.openapi.get(&gateway).await;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || t.trim().as_bytes() == built.etag.as_bytes())
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(built.body.clone()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let max_age = if built.complete {
        FRESH
    } else {
        FRESH_INCOMPLETE
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, built.etag);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs())) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    decision.write_headers(headers);
    response
}

/// Fetches every upstream's document and merges them; `false` when one did not answer.
async fn build(gateway: &Gateway) -> (Value, bool) {
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
        let mut document: Value = match gateway.proxy.base(upstream) {
            Some(base) => match client.get(format!("{base}/openapi.json")).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            },
            // A function upstream: asked through the same invoke path as any request.
            None => from_function(gateway, upstream).await,
        };
        if !document["paths"].is_object() {
            missing.push(upstream.to_owned());
            continue;
        }
        absorb_schemas(&mut schemas, upstream, &mut document);
        let Some(upstream_paths) = document["paths"].as_object() else {
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
                let mut item = item.clone();
                declare_gateway_answers(&mut item, route.access);
                paths.insert(public, item);
            }
        }
    }
    let complete = missing.is_empty();
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "retail-platform public API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": if missing.is_empty() { String::new() } else { format!("unavailable upstreams: {}", missing.join(", ")) },
        },
        "components": {
            "schemas": schemas,
            "responses": gateway_responses(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "paths": paths,
    });
    // Several services publish the same shared routes (dead letters): one operation id each.
    service_kit::openapi::complete(&mut document);
    (document, complete)
}

/// Moves the component schemas of an upstream's `document` into `schemas`. Services name
/// their schemas on their own, so two may use one name for different things (catalog's
/// `Price` and orders' `Price`); the later one then becomes `<upstream>.<name>` (so does one
/// that points at a renamed one), and every reference to it in its document is rewritten, so
/// each operation keeps the schema its service checks. Schemas the same in both (the shared
/// problem types) stay one.
fn absorb_schemas(schemas: &mut Map<String, Value>, upstream: &str, document: &mut Value) {
    let Some(found) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .map(std::mem::take)
    else {
        return;
    };
    // A schema is renamed when it differs from the kept one of its name, also when it differs
    // only in pointing at a schema renamed before it: repeat until nothing more is renamed.
    let mut renamed = std::collections::HashMap::new();
    loop {
        let mut grew = false;
        for (name, schema) in &found {
            let Some(kept) = schemas.get(name) else {
                continue;
            };
            if renamed.contains_key(name) {
                continue;
            }
            let mut as_merged = schema.clone();
            rename_refs(&mut as_merged, &renamed);
            if &as_merged != kept {
                renamed.insert(name.clone(), format!("{upstream}.{name}"));
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    if !renamed.is_empty() {
        rename_refs(&mut document["paths"], &renamed);
    }
    for (name, mut schema) in found {
        if !renamed.is_empty() {
            rename_refs(&mut schema, &renamed);
        }
        let name = renamed.get(&name).cloned().unwrap_or(name);
        schemas.insert(name, schema);
    }
}

/// Points every `$ref` to a schema in `renamed` at its new name.
fn rename_refs(value: &mut Value, renamed: &std::collections::HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(new) = reference
                    .strip_prefix("#/components/schemas/")
                    .and_then(|name| renamed.get(name))
            {
                *reference = format!("#/components/schemas/{new}");
            }
            map.values_mut().for_each(|v| rename_refs(v, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Adds to each operation of a path item the answers the gateway itself may give before or
/// instead of the upstream's, unless the upstream documents that status already: 401 (a bad
/// token, on any route), 403 (a role the route does not admit), 408 and 413 (a request body too
/// slow or too large), 429 (a rate limit), 502, 503 and 504 (the upstream failed, is down or
/// its circuit is open, or is too slow). Routes that need a token say so in `security`.
fn declare_gateway_answers(item: &mut Value, access: crate::routes::Access) {
    use crate::routes::Access;
    let Some(item) = item.as_object_mut() else {
        return;
    };
    for method in METHODS {
        let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
            continue;
        };
        let has_body = operation.contains_key("requestBody");
        let mut answers = vec![
            ("401", "Unauthorized"),
            ("429", "TooManyRequests"),
            ("502", "BadGateway"),
            ("503", "Unavailable"),
            ("504", "GatewayTimeout"),
        ];
        if access != Access::Public {
            answers.push(("403", "Forbidden"));
            operation.insert("security".into(), json!([{"bearer": []}]));
        }
        if has_body {
            answers.push(("408", "RequestTimeout"));
            answers.push(("413", "PayloadTooLarge"));
        }
        let responses = operation.entry("responses").or_insert_with(|| json!({}));
        let Some(responses) = responses.as_object_mut() else {
            continue;
        };
        for (status, name) in answers {
            responses
                .entry(status)
                .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
        }
    }
}

/// The gateway's own answers, referenced from every operation.
fn gateway_responses() -> Value {
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        })
    };
    let rate_headers = json!({
        "RateLimit": {"description": "What is left of the quota (IETF draft `RateLimit` fields: `\"<policy>\";r=<remaining>;t=<seconds to reset>`)", "schema": {"type": "string"}},
        "RateLimit-Policy": {"description": "The quota in force (`\"<policy>\";q=<limit>;w=<window seconds>`)", "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds until a request may succeed", "schema": {"type": "integer", "minimum": 0}},
    });
    let mut too_many =
        problem("A rate limit was reached (by client address, or by account when signed in)");
    too_many["headers"] = rate_headers;
    let mut unavailable = problem(
        "The upstream is down, its circuit is open, or the session store is out for a write",
    );
    unavailable["headers"] = json!({
        "Retry-After": {"description": "Seconds until a retry may succeed (an open circuit, the session store)", "schema": {"type": "integer", "minimum": 0}},
    });
    let mut unauthorized = problem(
        "The bearer token is missing where required, invalid, expired, or its session ended",
    );
    unauthorized["headers"] = json!({
        "WWW-Authenticate": {"description": "`Bearer error=\"invalid_token\"`", "schema": {"type": "string"}},
    });
    json!({
        "Unauthorized": unauthorized,
        "Forbidden": problem("The token's roles do not admit this route"),
        "RequestTimeout": problem("The request body did not arrive in time; the connection is closed"),
        "PayloadTooLarge": problem("The request body is larger than the gateway accepts"),
        "TooManyRequests": too_many,
        "BadGateway": problem("The upstream gave no valid answer"),
        "Unavailable": unavailable,
        "GatewayTimeout": problem("The upstream did not answer in time"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(price: &Value) -> Value {
        json!({
            "paths": {"/things": {"post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "responses": {"400": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
            }}},
            "components": {"schemas": {
                "Thing": {"type": "object", "properties": {"price": {"$ref": "#/components/schemas/Price"}}},
                "Price": price,
                "Problem": {"type": "object"}
            }}
        })
    }

    #[test]
    fn schemas_of_one_name_but_different_content_are_kept_apart() {
        let mut schemas = Map::new();
        let mut catalog = document(&json!({"type": "object", "additionalProperties": false}));
        absorb_schemas(&mut schemas, "catalog", &mut catalog);
        let mut orders = document(&json!({"type": "object"}));
        absorb_schemas(&mut schemas, "orders", &mut orders);

        let mut names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["Price", "Problem", "Thing", "orders.Price", "orders.Thing"]
        );
        assert_eq!(schemas["Price"]["additionalProperties"], false);
        assert_eq!(schemas["orders.Price"], json!({"type": "object"}));
        // orders' Thing differs only in what its Price means, and points at orders' Price.
        assert_eq!(
            schemas["orders.Thing"]["properties"]["price"]["$ref"],
            "#/components/schemas/orders.Price"
        );
        let post = &orders["paths"]["/things"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/orders.Thing"
        );
        assert_eq!(
            post["responses"]["400"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert_eq!(
            catalog["paths"]["/things"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/Thing"
        );
    }
}
