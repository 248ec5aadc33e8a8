//! Products: what a client sends ([`ProductInput`]), what the rules accept ([`ProductDraft`]),
//! and what clients read ([`Product`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use service_kit::FieldError;
use service_kit::money::{Currency, Money, MoneyError};
use service_kit::sku::Sku;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::category::is_valid_slug;

/// Longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest brand, in characters.
pub const MAX_BRAND_CHARS: usize = 100;
/// Most attributes per product.
pub const MAX_ATTRIBUTES: usize = 50;
/// Longest attribute string value, in characters.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 200;
/// Largest magnitude of a number attribute. PostgreSQL keeps a JSON number as the decimal it
/// was written as and gives it back in plain digits; a number near `f64::MAX` comes back as
/// 309 digits that no longer read as a float, so the product could not be read back.
pub const MAX_ATTRIBUTE_NUMBER: f64 = 1e15;
/// Most images per product.
pub const MAX_IMAGES: usize = 20;
/// Longest image URL.
pub const MAX_URL_LEN: usize = 2048;

/// A price as it travels in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Integer amount in minor units (cents), never negative.
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub amount: i64,
    /// ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
}

impl From<Money> for Price {
    fn from(money: Money) -> Self {
        Self {
            amount: money.amount(),
            currency: money.currency().to_string(),
        }
    }
}

/// A product as an admin writes it (create, full replacement, import row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Stock keeping unit, unique among live products.
    pub sku: String,
    /// Display name, 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// Long description (plain text), at most 10,000 characters.
    #[serde(default)]
    #[schema(max_length = 10_000)]
    pub description: String,
    /// Brand, if any, at most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub brand: Option<String>,
    /// Slug of an existing category, if any (blank means none).
    #[serde(default)]
    #[schema(
        pattern = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*([a-z0-9]+(-[a-z0-9]+)*)?[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    pub category: Option<String>,
    /// Price.
    pub price: Price,
    /// Flat attributes (`color`, `size`, ...): at most 50; names of 1 to 64 characters of
    /// `a-z`, `0-9` and `_`; values strings of at most 200 characters, numbers of at most
    /// 10^15 in magnitude, or booleans.
    #[serde(default)]
    #[schema(schema_with = attributes_schema)]
    pub attributes: Map<String, Value>,
    /// Image URLs, at most 20: `http://` or `https://`, a host, no white space, at most 2,048
    /// characters.
    #[serde(default)]
    #[schema(schema_with = image_urls_schema)]
    pub image_urls: Vec<String>,
    /// Whether shoppers can see it.
    #[serde(default = "default_active")]
    pub active: bool,
}

fn default_active() -> bool {
    true
}

/// An attribute name.
const ATTRIBUTE_NAME_PATTERN: &str = "^[a-z0-9_]{1,64}$";

/// What [`is_url_char`] refuses, as a JSON Schema character class body: white space and
/// control characters.
const URL_EXCLUDED: &str =
    "\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

fn attributes_schema() -> utoipa::openapi::Object {
    attribute_map_schema(false)
}

fn attributes_patch_schema() -> utoipa::openapi::Object {
    attribute_map_schema(true)
}

/// The schema type `kind`, or `[kind, "null"]` in a merge patch (where `null` resets).
fn maybe_null(
    kind: utoipa::openapi::schema::Type,
    in_patch: bool,
) -> utoipa::openapi::schema::SchemaType {
    use utoipa::openapi::schema::{SchemaType, Type};
    if in_patch {
        SchemaType::from_iter([kind, Type::Null])
    } else {
        SchemaType::new(kind)
    }
}

/// Attributes; in a merge patch `null` removes them all, and a `null` value one.
fn attribute_map_schema(in_patch: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let mut value = AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_ATTRIBUTE_VALUE_CHARS)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(-MAX_ATTRIBUTE_NUMBER))
                .maximum(Some(MAX_ATTRIBUTE_NUMBER)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Boolean));
    if in_patch {
        value = value.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    let description = if in_patch {
        "Attributes to set, merged into the product's (`null` removes one, and `null` for the \
         whole object removes all); at most 50 once merged"
    } else {
        "Flat attributes (`color`, `size`, ...): at most 50; names of 1 to 64 characters of \
         `a-z`, `0-9` and `_`; values strings of at most 200 characters, numbers of at most \
         10^15 in magnitude, or booleans"
    };
    ObjectBuilder::new()
        .schema_type(maybe_null(Type::Object, in_patch))
        .description(Some(description))
        .max_properties(Some(MAX_ATTRIBUTES))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ATTRIBUTE_NAME_PATTERN)),
        ))
        .additional_properties(Some(utoipa::openapi::schema::Schema::AnyOf(value.build())))
        .build()
}

fn image_urls_schema() -> utoipa::openapi::schema::Array {
    image_list_schema(false)
}

fn image_urls_patch_schema() -> utoipa::openapi::schema::Array {
    image_list_schema(true)
}

fn image_list_schema(in_patch: bool) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let url = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_URL_LEN))
        .pattern(Some(format!(
            "^https?://{IMAGE_HOST}(:[0-9]{{1,5}})?([/?#][^{URL_EXCLUDED}]*)?$"
        )));
    ArrayBuilder::new()
        .schema_type(maybe_null(Type::Array, in_patch))
        .description(Some(
            "Image URLs, at most 20: `http://` or `https://`, a host name (letters, digits, dots \
             and hyphens; no user name or address literal), an optional port, then a path, \
             query or fragment without white space; at most 2,048 characters",
        ))
        .items(url)
        .max_items(Some(MAX_IMAGES))
        .build()
}

/// A character an image URL may hold: no white space, no control character.
fn is_url_char(c: char) -> bool {
    !c.is_whitespace() && !c.is_control()
}

/// An image's host, as a JSON Schema pattern: what [`is_image_host`] accepts.
const IMAGE_HOST: &str = "[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?";

/// A host name in ASCII (an international one in its `xn--` form): letters, digits, dots and
/// hyphens, starting and ending with a letter or digit. No user name, no `[...]` address
/// literal: an image URL needs neither, and clients' URL parsers disagree about malformed ones
/// (Python's refuses an unbalanced `[` outright).
fn is_image_host(host: &str) -> bool {
    let edge = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    edge(host.as_bytes().first())
        && edge(host.as_bytes().last())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `http(s)://host[:port]` then a path, query or fragment of [`is_url_char`]s: the pattern
/// [`image_list_schema`] documents.
fn is_image_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    is_image_host(host)
        && port_ok
        && tail.chars().all(is_url_char)
        && url.chars().count() <= MAX_URL_LEN
}

/// A change to a product as an RFC 7396 JSON merge patch (`PATCH /admin/products/{id}`): the
/// fields given replace the product's, `null` resets an optional field (and removes an
/// attribute), and the result must pass every rule of [`ProductInput`]. This type describes
/// the patch in the API document; the handler merges the JSON itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ProductPatch {
    /// Stock keeping unit, unique among live products.
    #[schema(nullable = false)]
    sku: Option<String>,
    /// Display name, 1 to 200 characters.
    #[schema(
        nullable = false,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: Option<String>,
    /// Long description (plain text), at most 10,000 characters; `null` empties it.
    #[schema(max_length = 10_000)]
    description: Option<String>,
    /// Brand, at most 100 characters; `null` removes it.
    #[schema(max_length = 100)]
    brand: Option<String>,
    /// Slug of an existing category; `null` removes it.
    #[schema(
        pattern = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*([a-z0-9]+(-[a-z0-9]+)*)?[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    category: Option<String>,
    /// Price: either part may be given alone.
    #[schema(nullable = false)]
    price: Option<PricePatch>,
    /// Attributes to set (`null` removes one); at most 50 once merged.
    #[schema(schema_with = attributes_patch_schema)]
    attributes: Option<Map<String, Value>>,
    /// Image URLs, replacing the list; `null` empties it.
    #[schema(schema_with = image_urls_patch_schema)]
    image_urls: Option<Vec<String>>,
    /// Whether shoppers can see it; `null` makes it visible.
    active: Option<bool>,
}

/// A change to a price, in a [`ProductPatch`].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PricePatch {
    /// Integer amount in minor units (cents), never negative.
    #[schema(nullable = false, minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    amount: Option<i64>,
    /// ISO 4217 currency code, e.g. `EUR`.
    #[schema(nullable = false)]
    currency: Option<String>,
}

/// A product that passed every rule; only the category's existence is left to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    /// Normalized SKU.
    pub sku: Sku,
    /// Trimmed name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Trimmed brand; `None` when blank.
    pub brand: Option<String>,
    /// Category slug.
    pub category: Option<String>,
    /// Price.
    pub price: Money,
    /// Attributes.
    pub attributes: Map<String, Value>,
    /// Image URLs.
    pub image_urls: Vec<String>,
    /// Visible to shoppers.
    pub active: bool,
}

impl ProductInput {
    /// Applies every rule, reporting all failures at once, each by its JSON path.
    pub fn validate(self) -> Result<ProductDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let sku =
            Sku::parse(&self.sku).map_err(|e| errors.push(FieldError::new("sku", e.to_string())));

        let name = self.name.trim().to_owned();
        if name.is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        } else if name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }

        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            errors.push(FieldError::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }

        let brand = self
            .brand
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty());
        if brand
            .as_ref()
            .is_some_and(|b| b.chars().count() > MAX_BRAND_CHARS)
        {
            errors.push(FieldError::new(
                "brand",
                format!("must be at most {MAX_BRAND_CHARS} characters"),
            ));
        }

        let category = self
            .category
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if category.as_deref().is_some_and(|c| !is_valid_slug(c)) {
            errors.push(FieldError::new(
                "category",
                "must be a category slug (lower-case words joined by '-')",
            ));
        }

        let currency = Currency::parse(&self.price.currency)
            .map_err(|e| errors.push(FieldError::new("price.currency", e.to_string())));
        let price = currency.ok().and_then(|c| {
            Money::new(self.price.amount, c)
                .map_err(|e: MoneyError| {
                    errors.push(FieldError::new("price.amount", e.to_string()));
                })
                .ok()
        });

        validate_attributes(&self.attributes, &mut errors);
        validate_images(&self.image_urls, &mut errors);

        match (sku, price) {
            (Ok(sku), Some(price)) if errors.is_empty() => Ok(ProductDraft {
                sku,
                name,
                description: self.description,
                brand,
                category,
                price,
                attributes: self.attributes,
                image_urls: self.image_urls,
                active: self.active,
            }),
            _ => Err(errors),
        }
    }
}

fn validate_attributes(attributes: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    if attributes.len() > MAX_ATTRIBUTES {
        errors.push(FieldError::new(
            "attributes",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    for (key, value) in attributes {
        let field = format!("attributes.{key}");
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            errors.push(FieldError::new(
                field,
                "attribute names are 1-64 characters of a-z, 0-9 and '_'",
            ));
            continue;
        }
        match value {
            Value::String(s) if s.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS => {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {MAX_ATTRIBUTE_VALUE_CHARS} characters"),
                ));
            }
            Value::Number(n) if !n.as_f64().is_some_and(|f| f.abs() <= MAX_ATTRIBUTE_NUMBER) => {
                errors.push(FieldError::new(
                    field,
                    format!("numbers are at most {MAX_ATTRIBUTE_NUMBER:e} in magnitude"),
                ));
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            _ => errors.push(FieldError::new(
                field,
                "must be a string, a number or a boolean",
            )),
        }
    }
}

fn validate_images(urls: &[String], errors: &mut Vec<FieldError>) {
    if urls.len() > MAX_IMAGES {
        errors.push(FieldError::new(
            "image_urls",
            format!("at most {MAX_IMAGES} images"),
        ));
    }
    for (i, url) in urls.iter().enumerate() {
        if !is_image_url(url) {
            errors.push(FieldError::new(
                format!("image_urls[{i}]"),
                "must be an http(s) URL with a host name and no white space",
            ));
        }
    }
}

/// A product as clients read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    /// Product id.
    pub id: Uuid,
    /// SKU.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Brand.
    pub brand: Option<String>,
    /// Category slug.
    pub category: Option<String>,
    /// Price.
    pub price: Price,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Image URLs.
    pub image_urls: Vec<String>,
    /// Visible to shoppers.
    pub active: bool,
    /// Incremented on every change; the `ETag` is `"<version>"`.
    pub version: i64,
    /// Creation time (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last change (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl Product {
    /// The strong entity tag for this version.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// The writable part, as an admin would send it: the base a merge patch applies to.
    pub fn to_input(&self) -> ProductInput {
        ProductInput {
            sku: self.sku.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            brand: self.brand.clone(),
            category: self.category.clone(),
            price: self.price.clone(),
            attributes: self.attributes.clone(),
            image_urls: self.image_urls.clone(),
            active: self.active,
        }
    }
}

/// Applies an RFC 7396 JSON merge patch to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(fields) = target {
        for (key, value) in patch_fields {
            if value.is_null() {
                fields.remove(key);
            } else {
                merge_patch(fields.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> ProductInput {
        serde_json::from_value(json!({
            "sku": "hp-1", "name": " Headphones ", "price": {"amount": 1999, "currency": "EUR"},
            "attributes": {"color": "black", "wireless": true}
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_input_is_normalized() {
        let draft = input().validate().unwrap();
        assert_eq!(draft.sku.as_str(), "HP-1");
        assert_eq!(draft.name, "Headphones");
        assert!(draft.active);
    }

    #[test]
    fn every_failure_is_reported_by_field() {
        let mut bad = input();
        bad.name = "  ".into();
        bad.price = Price {
            amount: -5,
            currency: "EUR".into(),
        };
        bad.image_urls = vec!["ftp://x".into()];
        bad.attributes.insert("Bad Key".into(), json!(1));
        bad.attributes.insert("dims".into(), json!({"w": 1}));
        bad.attributes
            .insert("huge".into(), json!(1.797_693_134_862_315_7e308));
        bad.attributes.insert("weight".into(), json!(-1e15));
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "price.amount",
                "attributes.Bad Key",
                "attributes.dims",
                "attributes.huge",
                "image_urls[0]"
            ]
        );
    }

    #[test]
    fn the_documented_image_url_rule_is_the_one_checked() {
        // URL_EXCLUDED, as ranges.
        let excluded = |c: char| {
            matches!(c, '\u{0}'..='\u{20}' | '\u{7f}'..='\u{a0}' | '\u{1680}'
                | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}'
                | '\u{3000}')
        };
        for c in (0u32..0x3100).filter_map(char::from_u32) {
            assert_eq!(is_url_char(c), !excluded(c), "{c:?}");
        }
        let mut errors = Vec::new();
        let long = format!("https://a/{}", "é".repeat(MAX_URL_LEN - 10));
        let good = [
            long.clone(),
            "http://a".into(),
            "https://cdn.example.com:8443/i/1.png?w=2#top".into(),
            "https://xn--bcher-kva.example/b%C3%BCcher?q=[1]".into(),
            "http://a-b.c?x".into(),
        ];
        validate_images(&good, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let bad = [
            format!("{long}é"),
            "https:///x".into(),
            // Python's urlsplit refuses these outright ("Invalid IPv6 URL").
            "https://\u{4a3a}[\u{a4}".into(),
            "http://a]b/".into(),
            "http://[::1]/".into(),
            "http://user@a/".into(),
            "https://)".into(),
            "http://-a/".into(),
            "http://a:/".into(),
            "http://a:123456/".into(),
            "http://a:1:2/".into(),
            "http://bücher.example/".into(),
            "http://a/b c".into(),
        ];
        validate_images(&bad, &mut errors);
        let fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        let expected: Vec<String> = (0..bad.len()).map(|i| format!("image_urls[{i}]")).collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn unknown_currency_is_named() {
        let mut bad = input();
        bad.price.currency = "EURO".into();
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors[0].field, "price.currency");
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
    }
}
