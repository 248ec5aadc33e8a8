//! The one rule for control characters in text input, applied by every service.
//!
//! Text a client sends may not carry control characters: NUL (PostgreSQL refuses it in `text`
//! and `jsonb`, and an unchecked one became a 500), the other C0 controls, DEL and the C1
//! controls (U+0080..U+009F). They have no place in names, SKUs, addresses or search terms, and
//! they are how log lines, CSV cells and terminal output are forged. Tab, line feed and carriage
//! return stay allowed inside JSON strings (a product description has lines); in a URL's path or
//! query nothing of the sort is allowed.
//!
//! - The path and query string are checked by [`crate::http::ServiceApp`]'s middleware for every
//!   route, before any handler: a percent-encoded control character answers 400 naming the
//!   parameter (hyper already refuses raw ones).
//! - JSON bodies are checked by [`crate::extract::parse_json`] (so by `ApiJson` too): a string or
//!   object key with a control character answers 422 naming its JSON path.

use crate::error::{ApiError, FieldError};

/// What a client is told.
pub const MESSAGE: &str = "must not contain control characters";

/// Whether `c` is refused in text input (tab, LF and CR excepted; see [`forbidden_in_url`]).
pub fn forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `c` is refused in a URL's path or query: every control character.
pub fn forbidden_in_url(c: char) -> bool {
    c.is_control()
}

/// Checks a request's path and query string (still percent-encoded) and names what holds a
/// control character. Costs one pass over the bytes when there is none.
pub fn check_target(path: &str, query: Option<&str>) -> Result<(), ApiError> {
    if has_encoded_control(path) {
        return Err(ApiError::BadRequest {
            detail: format!("the path {MESSAGE}"),
            errors: vec![FieldError::new("path", MESSAGE)],
        });
    }
    let Some(query) = query.filter(|q| has_encoded_control(q)) else {
        return Ok(());
    };
    // Rare: decode to name the parameter.
    let name = form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| {
            name.chars().any(forbidden_in_url) || value.chars().any(forbidden_in_url)
        })
        .map(|(name, _)| name.chars().filter(|c| !c.is_control()).collect::<String>());
    match name {
        Some(name) => Err(ApiError::bad_field(&name, MESSAGE)),
        // Not valid UTF-8 once decoded, or the control character is in a part the decoder
        // drops: refuse it all the same.
        None => Err(ApiError::BadRequest {
            detail: format!("the query string {MESSAGE}"),
            errors: Vec::new(),
        }),
    }
}

/// Whether a percent-encoded string decodes to a control character: `%00`..`%1F`, `%7F`, or a
/// C1 control in UTF-8 (`%C2%80`..`%C2%9F`).
fn has_encoded_control(encoded: &str) -> bool {
    let bytes = encoded.as_bytes();
    let mut decoded = percent_bytes(bytes);
    let mut previous = None;
    for byte in decoded.by_ref() {
        if byte < 0x20 || byte == 0x7f || (previous == Some(0xc2) && (0x80..0xa0).contains(&byte)) {
            return true;
        }
        previous = Some(byte);
    }
    false
}

/// The bytes a percent-encoded string decodes to (`+` left as is: it is a space or a plus,
/// never a control).
fn percent_bytes(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let byte = *bytes.get(at)?;
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(at + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(at + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            at += 3;
            // Two hex digits: at most 0xff.
            return u8::try_from(high * 16 + low).ok();
        }
        at += 1;
        Some(byte)
    })
}

/// Checks a JSON document already known to parse: every string and object key must be free of
/// [`forbidden`] characters. The raw bytes are scanned first (a control character can only be
/// escaped in JSON, and DEL or C1 only raw or escaped); only a document that may hold one is
/// walked to name the field.
pub fn check_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !may_hold_control(bytes) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        // The caller reports the syntax error.
        return Ok(());
    };
    match first_forbidden(&value, String::new()) {
        Some(field) => Err(ApiError::Validation(vec![FieldError::new(field, MESSAGE)])),
        None => Ok(()),
    }
}

/// Cheap pre-scan: a `\u` or `\b`/`\f` escape, a raw DEL, or a raw C1 control.
fn may_hold_control(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|pair| {
        matches!(pair, [b'\\', b'u' | b'b' | b'f'] | [0xc2, 0x80..=0x9f]) || pair[0] == 0x7f
    }) || bytes.last() == Some(&0x7f)
}

fn first_forbidden(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        serde_json::Value::String(text) => text.chars().any(forbidden).then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| first_forbidden(item, format!("{path}[{index}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            if name.chars().any(forbidden) {
                Some(join(
                    &name.chars().filter(|c| !c.is_control()).collect::<String>(),
                ))
            } else {
                first_forbidden(item, join(name))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::BadRequest { errors, .. } | ApiError::Validation(errors) => {
                errors.first().map(|e| e.field.clone()).unwrap_or_default()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn control_characters_in_the_query_are_named() {
        let err = check_target(
            "/products",
            Some("category=small-appliances&brand=%00%C3%95"),
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(field_of(err), "brand");
        for query in ["q=a%0Ab", "q=%7f", "q=%C2%85", "q%01=x", "q=%1f"] {
            assert!(check_target("/products", Some(query)).is_err(), "{query}");
        }
        for query in [
            "q=caf%C3%A9",
            "q=a+b",
            "q=100%25",
            "q=%",
            "q=%zz",
            "q=%C3%80",
        ] {
            assert!(check_target("/products", Some(query)).is_ok(), "{query}");
        }
    }

    #[test]
    fn control_characters_in_the_path_are_refused() {
        assert_eq!(
            check_target("/products/A%00B", None).unwrap_err().status(),
            400
        );
        assert!(check_target("/products/A%20B", None).is_ok());
    }

    #[test]
    fn json_strings_and_keys_are_checked_with_their_path() {
        let err = check_json(br#"{"name":"ok","lines":[{"sku":"A\u0000"}]}"#).unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(field_of(err), "lines[0].sku");
        assert_eq!(
            field_of(check_json(br#"{"a":{"b\u0007":1}}"#).unwrap_err()),
            "a.b"
        );
        assert!(check_json(br#"{"d":"x\fy"}"#).is_err());
        assert!(check_json("{\"d\":\"x\u{7f}\"}".as_bytes()).is_err());
        assert!(check_json("{\"d\":\"x\u{85}\"}".as_bytes()).is_err());
        assert!(check_json(br#"{"d":"\u009f"}"#).is_err());
        // Lines and tabs in text are fine; so are escaped backslashes and other escapes.
        for ok in [
            r#"{"d":"two\nlines\tand\r"}"#,
            r#"{"d":"C:\\u0000 is text"}"#,
            r#"{"d":"caf\u00e9 \u2603"}"#,
            r#"{"n":1,"b":true,"z":null}"#,
        ] {
            assert!(check_json(ok.as_bytes()).is_ok(), "{ok}");
        }
    }
}
