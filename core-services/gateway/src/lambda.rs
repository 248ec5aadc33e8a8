//! Upstreams that are Lambda functions (`url = "lambda:<function>[:<alias>]"`), invoked through
//! the Lambda Invoke API with the request as an API Gateway HTTP API (payload 2.0) event, the
//! format `lambda_http` reads; the function's answer becomes the response.
//!
//! Invoking through IAM (the gateway's role may invoke exactly these functions) rather than a
//! public function URL is what lets the function trust the `x-auth-*` identity headers.
//! Locally, `AWS_ENDPOINT_URL_LAMBDA` points the client at `cargo lambda watch`.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};

/// The prefix of a Lambda upstream's `url`.
pub const SCHEME: &str = "lambda:";

/// The function a `lambda:` URL names, if it is one.
pub fn function_of(url: &str) -> Option<&str> {
    url.strip_prefix(SCHEME)
        .map(str::trim)
        .filter(|f| !f.is_empty())
}

/// The invocation payload for one request.
pub fn event(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    client_ip: &str,
    request_id: &str,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut joined: Map<String, Value> = Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if !values.is_empty() {
            joined.insert(name.as_str().to_owned(), Value::from(values.join(",")));
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::from(text), false),
        Err(_) => (Value::from(STANDARD.encode(body)), true),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "gateway",
            "domainName": "gateway",
            "domainPrefix": "gateway",
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000,
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
            }
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// The response a function answered (payload 2.0 response format).
pub fn response(payload: &[u8]) -> Result<Response, String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| format!("not a JSON answer: {e}"))?;
    let status = value
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("the answer has no valid statusCode")?;
    let mut headers = HeaderMap::new();
    if let Some(map) = value.get("headers").and_then(Value::as_object) {
        for (name, v) in map {
            if let (Ok(name), Some(Ok(v))) = (
                HeaderName::try_from(name.as_str()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                headers.append(name, v);
            }
        }
    }
    if let Some(map) = value.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            let Ok(name) = HeaderName::try_from(name.as_str()) else {
                continue;
            };
            if headers.contains_key(&name) {
                continue;
            }
            for v in values.as_array().into_iter().flatten() {
                if let Some(Ok(v)) = v.as_str().map(HeaderValue::from_str) {
                    headers.append(name.clone(), v);
                }
            }
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(Ok(v)) = cookie.as_str().map(HeaderValue::from_str) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
    let body = match value.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(text)
            if value
                .get("isBase64Encoded")
                .and_then(Value::as_bool)
                .unwrap_or(false) =>
        {
            STANDARD
                .decode(text)
                .map_err(|e| format!("bad base64 body: {e}"))?
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_become_http_api_events_and_answers_become_responses() {
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-roles", HeaderValue::from_static("admin"));
        headers.append("accept", HeaderValue::from_static("a"));
        headers.append("accept", HeaderValue::from_static("b"));
        let event = event(
            &Method::POST,
            "/admin/webhooks?limit=2",
            &headers,
            br#"{"url":"x"}"#,
            "10.0.0.1",
            "r-1",
        );
        assert_eq!(event["rawPath"], "/admin/webhooks");
        assert_eq!(event["rawQueryString"], "limit=2");
        assert_eq!(event["headers"]["accept"], "a,b");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["body"], r#"{"url":"x"}"#);
        let binary = super::event(&Method::PUT, "/x", &HeaderMap::new(), &[0xff, 0], "ip", "r");
        assert_eq!(binary["isBase64Encoded"], true);
        assert_eq!(binary["body"], "/wA=");

        let answer = response(
            br#"{"statusCode":201,"headers":{"content-type":"application/json","location":"/admin/webhooks/1"},"multiValueHeaders":{},"body":"{}","isBase64Encoded":false,"cookies":[]}"#,
        )
        .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        assert_eq!(answer.headers()["location"], "/admin/webhooks/1");
        assert!(response(b"oops").is_err());
        assert!(response(br#"{"statusCode": 99}"#).is_err());
        assert_eq!(
            function_of("lambda:retail-dev-webhook-admin:live"),
            Some("retail-dev-webhook-admin:live")
        );
        assert_eq!(function_of("http://x"), None);
    }
}
