//! What every service's OpenAPI document says on top of its handlers' annotations: the answers
//! the shared stack gives on its own, and the text rule every input follows.
//!
//! [`complete`] runs once, when [`crate::http::ServiceApp`] takes the document:
//! - every operation with parameters or a body declares **400** (a malformed parameter or
//!   body; a control character in the path or query, see [`crate::text`]); one with a body also
//!   **413** (over the body limit), **415** (not JSON) and **422** (fields that break a rule);
//!   one with a path parameter **404**. Each is an RFC 9457 problem.
//! - every string a client sends (parameters, and the properties of request schemas) without a
//!   pattern, format or enum of its own gets the pattern of [`crate::text`]'s rule, so a client
//!   (or a fuzzer) knows control characters are refused before it sends them.
//! - the shared value types are described by name wherever they appear: a parameter or property
//!   `sku` follows [`crate::sku::Sku`]'s rule, a property `currency` lists the ISO 4217 codes
//!   [`crate::money::Currency`] knows, an `Idempotency-Key` header is 1 to 255 visible ASCII
//!   characters. (Header values are not held to the text rule: HTTP refuses controls there.)
//! - operation ids are made unique within the document (`<id>_2`, ...), as OpenAPI requires.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};
use utoipa::OpenApi as _;

/// Text in a path or query parameter: no control character at all.
pub const URL_TEXT_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// Text in a JSON body: no control character but tab, line feed and carriage return.
pub const JSON_TEXT_PATTERN: &str =
    "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// A SKU in a JSON body, as [`crate::sku::Sku::parse`] takes it (surrounding white space is
/// trimmed; of the control characters only tab, line feed and carriage return pass the text
/// rule).
pub const SKU_PATTERN: &str = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[A-Za-z0-9][A-Za-z0-9._-]{0,63}[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$";
/// A SKU in a path or query (no control character at all).
pub const SKU_URL_PATTERN: &str = "^[ \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[A-Za-z0-9][A-Za-z0-9._-]{0,63}[ \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$";
/// An `Idempotency-Key` header.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// Answers many operations share, for `#[utoipa::path(responses(...))]` beside the operation's
/// own tuples: each is an RFC 9457 problem under one status. (The answers the shared stack gives
/// on its own, 400/404/413/415/422 for malformed input, are added by [`complete`] instead.)
pub mod responses {
    use crate::Problem;

    /// 403: the caller is not an admin.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 403,
        description = "Not an admin",
        content_type = "application/problem+json"
    )]
    pub struct NotAdmin(pub Problem);

    /// 422: fields of the body break their rules (each named in `errors`).
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 422,
        description = "Invalid fields",
        content_type = "application/problem+json"
    )]
    pub struct InvalidFields(pub Problem);

    /// 422: a [`crate::window::Window`] whose `to` is not after `from`, or too long.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 422,
        description = "`to` not after `from`, or more than 366 days later",
        content_type = "application/problem+json"
    )]
    pub struct WindowRefused(pub Problem);

    /// 503: the message broker cannot be reached.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 503,
        description = "The broker is unavailable",
        content_type = "application/problem+json"
    )]
    pub struct BrokerUnavailable(pub Problem);
}

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(crate::Problem, crate::FieldError)))]
struct ProblemDoc;

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// Adds the shared answers and the text rule to `doc` (an OpenAPI 3.1 document as JSON).
pub fn complete(doc: &mut Value) {
    add_problem_schemas(doc);
    let mut request_schemas = BTreeSet::new();
    let mut operation_ids = HashSet::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for method in METHODS {
                if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                    complete_operation(path, operation, &mut request_schemas);
                    unique_operation_id(operation, &mut operation_ids);
                }
            }
        }
    }
    // Request schemas, and every schema they refer to.
    let mut pending: Vec<String> = request_schemas.into_iter().collect();
    let mut seen = HashSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else {
            continue;
        };
        collect_refs(schema, &mut pending);
        restrict_strings(schema, JSON_TEXT_PATTERN);
    }
}

fn add_problem_schemas(doc: &mut Value) {
    let Ok(Value::Object(extra)) = serde_json::to_value(
        ProblemDoc::openapi()
            .components
            .map(|c| c.schemas)
            .unwrap_or_default(),
    ) else {
        return;
    };
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(schemas) = components.map(|c| c.entry("schemas").or_insert_with(|| json!({}))) else {
        return;
    };
    if let Some(schemas) = schemas.as_object_mut() {
        for (name, schema) in extra {
            schemas.entry(name).or_insert(schema);
        }
    }
}

fn complete_operation(
    path: &str,
    operation: &mut Map<String, Value>,
    request_schemas: &mut BTreeSet<String>,
) {
    let has_path_params = path.contains('{');
    let has_params = has_path_params
        || operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
    let body = operation.get("requestBody").cloned();
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters {
            let name = parameter["name"].as_str().unwrap_or_default().to_owned();
            let header = parameter["in"] == "header";
            let Some(schema) = parameter.get_mut("schema") else {
                continue;
            };
            match (name.as_str(), header) {
                ("sku", false) => set_pattern(schema, SKU_URL_PATTERN),
                ("currency", false) => set_currencies(schema),
                ("Idempotency-Key", true) => set_pattern(schema, IDEMPOTENCY_KEY_PATTERN),
                (_, true) => {}
                (_, false) => restrict_strings(schema, URL_TEXT_PATTERN),
            }
        }
    }
    if let Some(body) = &body {
        let mut refs = Vec::new();
        collect_refs(body, &mut refs);
        request_schemas.extend(refs);
    }
    if let Some(body) = operation.get_mut("requestBody") {
        // Inline request schemas.
        if let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) {
            for media in content.values_mut() {
                if let Some(schema) = media.get_mut("schema") {
                    restrict_strings(schema, JSON_TEXT_PATTERN);
                }
            }
        }
    }
    let mut answers: Vec<(&str, &str)> = Vec::new();
    if has_params || body.is_some() {
        answers.push(("400", "Malformed parameter or body"));
    }
    if body.is_some() {
        answers.push(("413", "Body over the size limit"));
        answers.push(("415", "Not a JSON body"));
        answers.push(("422", "Fields that break a rule"));
    }
    if has_path_params {
        answers.push(("404", "Not found"));
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    if let Some(responses) = responses.as_object_mut() {
        for (status, description) in answers {
            responses
                .entry(status)
                .or_insert_with(|| problem(description));
        }
    }
}

fn unique_operation_id(operation: &mut Map<String, Value>, seen: &mut HashSet<String>) {
    let Some(id) = operation
        .get("operationId")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return;
    };
    let mut unique = id.clone();
    let mut n = 2;
    while !seen.insert(unique.clone()) {
        unique = format!("{id}_{n}");
        n += 1;
    }
    if unique != id {
        operation.insert("operationId".into(), Value::String(unique));
    }
}

/// Names of the component schemas `value` refers to.
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            for v in map.values() {
                collect_refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn is_string_type(schema: &Map<String, Value>) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// Lists the ISO 4217 codes on a string schema without an enum of its own.
fn set_currencies(schema: &mut Value) {
    if let Some(map) = schema.as_object_mut()
        && is_string_type(map)
        && !map.contains_key("enum")
    {
        let mut codes: Vec<Value> = crate::money::Currency::codes().map(Value::from).collect();
        if matches!(map.get("type"), Some(Value::Array(t)) if t.iter().any(|t| t == "null")) {
            codes.push(Value::Null);
        }
        map.insert("enum".into(), Value::Array(codes));
    }
}

/// Gives a string schema `pattern` unless it has a pattern, format or enum of its own.
fn set_pattern(schema: &mut Value, pattern: &str) {
    if let Some(map) = schema.as_object_mut()
        && is_string_type(map)
        && !["pattern", "format", "enum", "const"]
            .iter()
            .any(|k| map.contains_key(*k))
    {
        map.insert("pattern".into(), Value::String(pattern.to_owned()));
    }
}

/// Gives every plain string schema in `schema` (itself, properties, items, compositions) the
/// control-character `pattern`, unless it has a pattern, format or enum of its own; the
/// shared value types by their property name (`sku`, `currency`).
fn restrict_strings(schema: &mut Value, pattern: &str) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
        if let Some(sku) = properties.get_mut("sku") {
            set_pattern(sku, SKU_PATTERN);
        }
        if let Some(currency) = properties.get_mut("currency") {
            set_currencies(currency);
        }
    }
    if is_string_type(map)
        && !map.contains_key("pattern")
        && !map.contains_key("format")
        && !map.contains_key("enum")
        && !map.contains_key("const")
    {
        map.insert("pattern".into(), Value::String(pattern.to_owned()));
    }
    // Keys of free-form objects follow the text rule too.
    let free_form = map.get("type") == Some(&Value::String("object".into()))
        && !map.contains_key("properties")
        && !map.contains_key("propertyNames");
    if free_form {
        map.insert("propertyNames".into(), json!({"pattern": pattern}));
    }
    for key in ["properties", "patternProperties"] {
        if let Some(properties) = map.get_mut(key).and_then(Value::as_object_mut) {
            for property in properties.values_mut() {
                restrict_strings(property, pattern);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(inner) = map.get_mut(key) {
            restrict_strings(inner, pattern);
        }
    }
    for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        if let Some(list) = map.get_mut(key).and_then(Value::as_array_mut) {
            for inner in list {
                restrict_strings(inner, pattern);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn operations_get_the_shared_answers_and_strings_the_text_rule() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": {
                "/things/{id}": {
                    "put": {
                        "operationId": "put_thing",
                        "parameters": [
                            {"name": "id", "in": "path", "schema": {"type": "string"}},
                            {"name": "at", "in": "query", "schema": {"type": "string", "format": "date-time"}}
                        ],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "responses": {"200": {"description": "ok"}}
                    }
                },
                "/other": {"get": {"operationId": "put_thing", "responses": {"200": {"description": "ok"}}}}
            },
            "components": {"schemas": {
                "Thing": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "sku": {"type": "string", "pattern": "^[A-Z]+$"},
                    "part": {"$ref": "#/components/schemas/Part"}
                }},
                "Part": {"type": "object", "properties": {"label": {"type": ["string", "null"]}}},
                "Unrelated": {"type": "object", "properties": {"note": {"type": "string"}}}
            }}
        });
        complete(&mut doc);
        let op = &doc["paths"]["/things/{id}"]["put"];
        for status in ["200", "400", "404", "413", "415", "422"] {
            assert!(op["responses"].get(status).is_some(), "{status}");
        }
        assert_eq!(
            op["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(doc["components"]["schemas"].get("Problem").is_some());
        assert_eq!(op["parameters"][0]["schema"]["pattern"], URL_TEXT_PATTERN);
        assert!(op["parameters"][1]["schema"].get("pattern").is_none());
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["Thing"]["properties"]["name"]["pattern"],
            JSON_TEXT_PATTERN
        );
        assert_eq!(schemas["Thing"]["properties"]["sku"]["pattern"], "^[A-Z]+$");
        assert_eq!(
            schemas["Part"]["properties"]["label"]["pattern"],
            JSON_TEXT_PATTERN
        );
        assert!(
            schemas["Unrelated"]["properties"]["note"]
                .get("pattern")
                .is_none()
        );
        let other = &doc["paths"]["/other"]["get"];
        let mut ids = [
            op["operationId"].as_str().unwrap(),
            other["operationId"].as_str().unwrap(),
        ];
        ids.sort_unstable();
        assert_eq!(ids, ["put_thing", "put_thing_2"]);
        assert!(other["responses"].get("400").is_none());
    }

    #[test]
    fn the_patterns_match_the_text_rule() {
        // The same characters the rule refuses, written as JSON Schema ranges.
        let in_url = |c: char| crate::text::forbidden_in_url(c);
        let in_json = |c: char| crate::text::forbidden(c);
        for c in (0u32..0x200).filter_map(char::from_u32) {
            let url_range = matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}');
            assert_eq!(in_url(c), url_range, "{c:?}");
            let json_range = url_range && !matches!(c, '\t' | '\n' | '\r');
            assert_eq!(in_json(c), json_range, "{c:?}");
        }
    }
}
