//! Extractors whose rejections are problem details.
//!
//! [`ApiJson`] checks the media type, enforces the body limit (413), separates malformed JSON
//! (400) from well-formed JSON of the wrong shape (422, naming the field by its JSON path, unknown
//! fields included). [`ApiQuery`] does the same for query strings (400, naming the parameter).
//! [`ApiPath`] parses one path parameter into its type ([`PathValue`]: SKUs, resource ids) once,
//! before the handler runs, with the type's own problem when it does not parse.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::{ApiError, FieldError};

/// A JSON request body of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&json_body(req, state).await?).map(ApiJson)
    }
}

/// The JSON body of a bulk request whose items the handler checks one by one, reporting each
/// (a product import): like [`ApiJson`] but without the text rule, which the handler applies
/// to each item with [`parse_json`], so one bad item fails alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct BulkJson<T>(pub T);

impl<T, S> FromRequest<S> for BulkJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json_shape(&json_body(req, state).await?).map(BulkJson)
    }
}

/// The body of a JSON request: 415 unless it says JSON, 413 over the limit.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !has_json_content_type(req.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "expected `Content-Type: application/json`".into(),
        ));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("the request body exceeds the size limit".into())
        } else {
            ApiError::BadRequest {
                detail: rejection.body_text(),
                errors: Vec::new(),
            }
        }
    })
}

fn has_json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON document into `T`, mapping failures to 400 (syntax) or 422 (shape, or a control
/// character in a string: [`crate::text`]), with the JSON path of the offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_json_shape(bytes)?;
    crate::text::check_json(bytes)?;
    Ok(value)
}

/// [`parse_json`] without the text rule.
fn parse_json_shape<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is a JSON object; serde would also read an object's fields from
    // an array in field order (`[null, null]`), which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "must be a JSON object, not an array",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => {
            de.end().map_err(|err| ApiError::BadRequest {
                detail: format!("malformed JSON: {err}"),
                errors: Vec::new(),
            })?;
            Ok(value)
        }
        Err(err) if err.inner().classify() == Category::Data => {
            match with_integral_floats_as_integers(bytes) {
                Some(document) => serde_path_to_error::deserialize(document).map_err(shape_error),
                None => Err(shape_error(err)),
            }
        }
        Err(err) => Err(ApiError::BadRequest {
            detail: format!("malformed JSON: {}", err.into_inner()),
            errors: Vec::new(),
        }),
    }
}

/// A well-formed document of the wrong shape: 422 naming the field by its JSON path.
fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    // The document itself is "" (as for an array body), not serde_path_to_error's ".".
    let path = match err.path().to_string() {
        root if root == "." => String::new(),
        path => path,
    };
    let message = strip_position(&err.into_inner().to_string());
    // The path of a missing field ends at its parent object; name the field itself.
    let field = missing_field_name(&message)
        .map(|name| join_path(&path, &name))
        .unwrap_or(path);
    ApiError::Validation(vec![FieldError::new(field, message)])
}

/// JSON has one number type, and JSON Schema counts `980.0` as the integer 980; serde reads
/// such a number only into a float. When a document did not fit its type, this gives it
/// another chance with every integral float up to 2^53 (beyond that a float no longer holds
/// each integer exactly) written as an integer. `None` when there is none to rewrite, so the
/// first error stands. Only failed documents pay for this.
fn with_integral_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    fn rewrite(value: &mut serde_json::Value) -> bool {
        const EXACT: f64 = 9_007_199_254_740_992.0;
        match value {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT => {
                    // In range and integral, so the conversion is exact.
                    #[allow(clippy::cast_possible_truncation)]
                    let integer = f as i64;
                    *value = serde_json::Value::from(integer);
                    true
                }
                _ => false,
            },
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| rewrite(v) | c),
            serde_json::Value::Object(fields) => {
                fields.values_mut().fold(false, |c, v| rewrite(v) | c)
            }
            _ => false,
        }
    }
    let mut document: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    rewrite(&mut document).then_some(document)
}

/// serde_json appends " at line L column C"; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) => message[..idx].to_owned(),
        None => message.to_owned(),
    }
}

fn missing_field_name(message: &str) -> Option<String> {
    field_in(message, "missing field `")
}

fn unknown_field_name(message: &str) -> Option<String> {
    field_in(message, "unknown field `")
}

fn field_in(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() || parent == "." {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// Query parameters of type `T`; unknown or malformed parameters answer 400 naming them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // ServiceApp's middleware has refused these already; a router without it (a Lambda
        // function's) gets the same rule here.
        crate::text::check_target("", Some(query))?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                let field = unknown_field_name(&message).unwrap_or(path);
                ApiError::BadRequest {
                    detail: format!("invalid query parameter `{field}`: {message}"),
                    errors: vec![FieldError::new(field, message)],
                }
            })
    }
}

/// A type a path segment parses into, with the problem a segment that does not parse answers.
pub trait PathValue: Sized {
    /// Parses the (percent-decoded) segment.
    fn from_segment(segment: &str) -> Result<Self, ApiError>;
}

/// A SKU in the path: 400 naming `sku` when it is not one.
impl PathValue for crate::sku::Sku {
    fn from_segment(segment: &str) -> Result<Self, ApiError> {
        Self::parse(segment).map_err(|e| ApiError::bad_field("sku", e.to_string()))
    }
}

/// Declares a resource id carried in paths: a UUID newtype whose segments that are not UUIDs
/// answer 404 "no such <noun>" (no such resource can exist), as a well-formed unknown id does.
#[macro_export]
macro_rules! path_id {
    ($(#[$meta:meta])* $vis:vis struct $name:ident, $noun:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name(pub $crate::__uuid::Uuid);

        impl $crate::extract::PathValue for $name {
            fn from_segment(segment: &str) -> Result<Self, $crate::error::ApiError> {
                $crate::__uuid::Uuid::parse_str(segment)
                    .map($name)
                    .map_err(|_| $crate::error::ApiError::NotFound(concat!("no such ", $noun).into()))
            }
        }
    };
}

/// One path parameter of type `T`, parsed once, rejected as `T` says ([`PathValue`]).
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: PathValue,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(segment) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| ApiError::BadRequest {
                    detail: format!("invalid path: {}", rejection.body_text()),
                    errors: Vec::new(),
                })?;
        T::from_segment(&segment).map(ApiPath)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Price {
        amount: i64,
        currency: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        price: Price,
    }

    #[test]
    fn an_integral_float_is_an_integer_as_json_schema_says() {
        let body = parse_json::<Body>(br#"{"name":"x","price":{"amount":980.0,"currency":"EUR"}}"#)
            .unwrap();
        assert_eq!(body.price.amount, 980);
        for amount in ["980.5", "1e300", "9007199254740994.0"] {
            let json = format!(r#"{{"name":"x","price":{{"amount":{amount},"currency":"EUR"}}}}"#);
            let Err(ApiError::Validation(errors)) = parse_json::<Body>(json.as_bytes()) else {
                panic!("{amount} accepted");
            };
            assert_eq!(errors[0].field, "price.amount", "{amount}");
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let err = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let err = parse_json::<Body>(br#"{"name":"x","price":{"amount":"ten","currency":"EUR"}}"#)
            .unwrap_err();
        let ApiError::Validation(errors) = err else {
            panic!("expected validation, got {err:?}")
        };
        assert_eq!(errors[0].field, "price.amount");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err =
            parse_json::<Body>(br#"{"name":"x","price":{"amount":1,"currency":"EUR","tax":3}}"#)
                .unwrap_err();
        let ApiError::Validation(errors) = err else {
            panic!("expected validation, got {err:?}")
        };
        assert_eq!(errors[0].field, "price.tax");
    }

    #[test]
    fn missing_fields_are_named() {
        let err = parse_json::<Body>(br#"{"price":{"amount":1,"currency":"EUR"}}"#).unwrap_err();
        let ApiError::Validation(errors) = err else {
            panic!("expected validation, got {err:?}")
        };
        assert_eq!(errors[0].field, "name");
    }

    #[test]
    fn overflowing_numbers_name_the_field() {
        let err = parse_json::<Body>(
            br#"{"name":"x","price":{"amount":99999999999999999999,"currency":"EUR"}}"#,
        )
        .unwrap_err();
        let ApiError::Validation(errors) = err else {
            panic!("expected validation, got {err:?}")
        };
        assert_eq!(errors[0].field, "price.amount");
    }

    #[test]
    fn an_array_is_not_read_as_an_object() {
        let err = parse_json::<Price>(br#" [1, "EUR"]"#).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn trailing_garbage_is_a_bad_request() {
        let err = parse_json::<Price>(br#"{"amount":1,"currency":"EUR"} x"#).unwrap_err();
        assert_eq!(err.status(), 400);
    }

    crate::path_id!(
        /// A test resource id.
        struct WidgetId,
        "widget"
    );

    async fn call_path<T: PathValue + Send + 'static>(
        uri: &str,
        show: fn(T) -> String,
    ) -> (http::StatusCode, String) {
        use axum::response::IntoResponse as _;
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let app = axum::Router::new().route(
            "/things/{id}",
            axum::routing::get(move |ApiPath(value): ApiPath<T>| async move { show(value) }),
        );
        let response = app
            .oneshot(
                http::Request::builder()
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .expect("a request"),
            )
            .await
            .map_or_else(|never| match never {}, |r| r.into_response());
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn a_path_parameter_is_parsed_once_into_its_type() {
        let sku = |s: crate::sku::Sku| s.to_string();
        assert_eq!(
            call_path("/things/ab-1", sku).await,
            (http::StatusCode::OK, "AB-1".to_owned())
        );
        let (status, body) = call_path("/things/a%20b", sku).await;
        assert_eq!(status, http::StatusCode::BAD_REQUEST);
        assert!(body.contains("\"sku\""), "{body}");

        let id = |w: WidgetId| w.0.to_string();
        let uuid = "0190f3a4-7b1c-7d2e-8f00-000000000001";
        assert_eq!(
            call_path(&format!("/things/{uuid}"), id).await,
            (http::StatusCode::OK, uuid.to_owned())
        );
        let (status, body) = call_path("/things/not-a-uuid", id).await;
        assert_eq!(status, http::StatusCode::NOT_FOUND);
        assert!(body.contains("no such widget"), "{body}");
    }
}
