use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, problem_fields, product_json, spawn_app};

#[tokio::test]
async fn every_bad_product_body_is_a_problem_naming_the_field() {
    let app = spawn_app().await;
    let with = |patch: serde_json::Value| {
        let mut body = product_json("val-1", "Valid Name");
        service_kit_merge(&mut body, &patch);
        body
    };
    let cases: Vec<(&str, serde_json::Value, StatusCode, &str)> = vec![
        (
            "unknown field",
            with(json!({"colour": "red"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
        ),
        (
            "unknown nested field",
            with(json!({"price": {"tax": 1}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price.tax",
        ),
        (
            "negative price",
            with(json!({"price": {"amount": -1}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price.amount",
        ),
        (
            "price above 2^53",
            with(json!({"price": {"amount": 9_007_199_254_740_992_i64}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price.amount",
        ),
        (
            "fractional price",
            with(json!({"price": {"amount": 19.99}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price.amount",
        ),
        (
            "unknown currency",
            with(json!({"price": {"currency": "EURO"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price.currency",
        ),
        (
            "lower-case currency",
            with(json!({"price": {"currency": "eur"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price.currency",
        ),
        (
            "empty name",
            with(json!({"name": "   "})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "bad sku",
            with(json!({"sku": "no spaces allowed"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "sku",
        ),
        (
            "wrong type",
            with(json!({"active": "yes"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "active",
        ),
        (
            "unknown category",
            with(json!({"category": "nowhere"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "category",
        ),
        (
            "bad image url",
            with(json!({"image_urls": ["javascript:alert(1)"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_urls[0]",
        ),
        (
            "NUL in a name (PostgreSQL refuses it in text)",
            with(json!({"name": "Lamp\u{0}"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "escape sequence in an attribute",
            with(json!({"attributes": {"colour": "\u{1b}[31mred"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attributes.colour",
        ),
        (
            "nested attribute",
            with(json!({"attributes": {"dims": {"w": 1}}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attributes.dims",
        ),
        (
            // PostgreSQL would give it back as 309 digits that no longer read as a float:
            // the product was stored and every read of it was a 500.
            "attribute number too large to read back",
            with(json!({"attributes": {"huge": 1.797_693_134_862_315_7e308}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attributes.huge",
        ),
        (
            "image URL with a no-break space",
            with(json!({"image_urls": ["https://img.example.com/a\u{a0}b.jpg"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_urls[0]",
        ),
        (
            // A fuzzed product stored with it made every listing unreadable to clients whose
            // URL parser refuses an unbalanced bracket (Python's: "Invalid IPv6 URL").
            "image URL whose host is not a host name",
            with(
                json!({"image_urls": ["https://img.example.com/a.jpg", "https://\u{4a3a}[\u{a4}"]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_urls[1]",
        ),
    ];
    for (case, body, status, field) in cases {
        let response = app
            .admin(Method::POST, "/admin/products")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{case}");
        let problem = assert_problem(response, status).await;
        assert!(
            problem_fields(&problem).contains(&field.to_owned()),
            "{case}: {problem}"
        );
        assert_eq!(problem["instance"], "/admin/products", "{case}");
    }
    // A price wider than 64 bits never reaches the rules but is still named.
    let response = app
        .admin(Method::POST, "/admin/products")
        .header("content-type", "application/json")
        .body(r#"{"sku":"x-1","name":"X","price":{"amount":123456789012345678901234567890,"currency":"EUR"}}"#)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem_fields(&problem), ["price.amount"]);
    // Nothing was written by any of them.
    assert_eq!(app.get_json("/products").await["items"], json!([]));
}

fn service_kit_merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    catalog::domain::product::merge_patch(target, patch);
}

#[tokio::test]
async fn unreadable_requests_are_400_413_or_415() {
    let app = spawn_app().await;
    let malformed = app
        .admin(Method::POST, "/admin/products")
        .header("content-type", "application/json")
        .body(r#"{"sku": "a-1", "name": "#)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );

    let not_json = app
        .admin(Method::POST, "/admin/products")
        .header("content-type", "text/plain")
        .body("sku=a-1")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let huge = json!({"sku": "big-1", "name": "Big", "description": "x".repeat(2 * 1024 * 1024),
        "price": {"amount": 1, "currency": "EUR"}});
    let too_large = app
        .admin(Method::POST, "/admin/products")
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_problem(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;

    let too_many = app
        .admin(Method::POST, "/admin/products/import")
        .json(&json!({"products": vec![product_json("many-1", "Many"); 1001]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(too_many, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem_fields(&problem), ["products"]);
}

#[tokio::test]
async fn bad_query_parameters_and_ids_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("/products?limit=0", "limit"),
        ("/products?limit=101", "limit"),
        ("/products?limit=ten", "limit"),
        ("/products?cursor=not-a-cursor", "cursor"),
        (
            "/products?cursor=eyJmIjoiMCIsImEiOnsiayI6Im5ld2VzdCJ9fQ",
            "cursor",
        ),
        ("/products?min_price=-5", "min_price"),
        ("/products?max_price=1e3", "max_price"),
        ("/products?min_price=500&max_price=100", "min_price"),
        ("/products?sort=cheapest", "sort"),
        ("/products?sort=relevance", "sort"),
        ("/products?currency=XYZ", "currency"),
        ("/products?colour=red", "colour"),
        ("/products/not-a-uuid", "id"),
        ("/products/by-sku/has%20space", "sku"),
        // Control characters, refused by service-kit's one rule before any handler: once a
        // NUL reached PostgreSQL and answered 500.
        (
            "/products?category=small-appliances&brand=%00%C3%95",
            "brand",
        ),
        ("/products?q=lamp%0A", "q"),
        ("/admin/products?q=%1b%5B31m", "q"),
    ];
    for (path, field) in cases {
        let problem = assert_problem(app.get(path).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_fields(&problem), [field], "{path}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = spawn_app().await;
    let problem = assert_problem(app.get("/nothing-here").await, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["instance"], "/nothing-here");
    assert!(problem["request_id"].is_string());
    let response = app
        .request(Method::DELETE, "/products")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}
