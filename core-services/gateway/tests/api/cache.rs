//! The response cache: what it serves without calling the upstream, what it never keeps, and
//! how fast a write made anywhere shows through it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, Platform, spawn_platform};

fn calls(platform: &Platform) -> usize {
    platform.cacheable_calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_200_and_a_304_are_served_without_calling_the_upstream() {
    let platform = spawn_platform(Options::default()).await;
    let first = platform.get("/api/v1/cacheable/a", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["x-gateway-cache"], "miss");
    assert_eq!(first.json::<Value>().await.unwrap()["n"], 1);
    assert_eq!(calls(&platform), 1);

    let hit = platform.get("/api/v1/cacheable/a", None).await;
    assert_eq!(hit.status(), StatusCode::OK);
    assert_eq!(hit.headers()["x-gateway-cache"], "hit");
    assert_eq!(hit.headers()["etag"], "\"v1\"");
    assert_eq!(hit.headers()["cache-control"], "public, max-age=60");
    assert_eq!(hit.headers()["content-type"], "application/json");
    assert!(hit.headers().contains_key("age"));
    assert!(
        hit.headers().contains_key("ratelimit"),
        "a hit still counts against the caller's quota"
    );
    let request_id = hit.headers()["x-request-id"].clone();
    assert_eq!(
        hit.json::<Value>().await.unwrap()["n"],
        1,
        "the stored body"
    );

    let revalidated = platform
        .request(Method::GET, "/api/v1/cacheable/a")
        .header("if-none-match", "W/\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"], "\"v1\"");
    assert_ne!(
        revalidated.headers()["x-request-id"],
        request_id,
        "each answer has its own request id"
    );
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let other_tag = platform
        .request(Method::GET, "/api/v1/cacheable/a")
        .header("if-none-match", "\"v0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other_tag.status(), StatusCode::OK);
    assert_eq!(calls(&platform), 1, "the upstream was called once in all");

    let metrics = platform.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"gateway_response_cache_total{result="revalidated"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn private_uncacheable_and_signed_in_answers_are_never_kept() {
    let platform = spawn_platform(Options::default()).await;
    for cache_control in [
        "private, max-age=60",
        "no-store",
        "public, no-cache, max-age=60",
        "public",
    ] {
        let before = calls(&platform);
        let path = format!(
            "/api/v1/cacheable/p?cc={}",
            cache_control.replace(' ', "%20").replace(',', "%2C")
        );
        for _ in 0..2 {
            let response = platform.get(&path, None).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["x-gateway-cache"], "miss");
        }
        assert_eq!(calls(&platform) - before, 2, "{cache_control}");
    }

    // Signed in: the answer is never written to the cache, even on a public route and even
    // when the upstream calls it public.
    let (_, tokens) = platform.sign_up("reader@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let before = calls(&platform);
    for _ in 0..2 {
        let response = platform.get("/api/v1/cacheable/s", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-gateway-cache"));
    }
    let shopper_route = platform
        .get("/api/v1/cacheable-shopper/s", Some(token))
        .await;
    assert_eq!(shopper_route.status(), StatusCode::OK);
    assert_eq!(calls(&platform) - before, 3);
    // And what a signed-in caller fetched is not served to anonymous callers.
    let anonymous = platform.get("/api/v1/cacheable/s", None).await;
    assert_eq!(anonymous.headers()["x-gateway-cache"], "miss");
    let stored_n = anonymous.json::<Value>().await.unwrap()["n"].clone();

    // What an anonymous caller had stored serves a signed-in one only when the upstream
    // declared it shareable (`public`; RFC 9111 section 3.5), and never on a shopper route.
    let before = calls(&platform);
    let hit = platform.get("/api/v1/cacheable/s", Some(token)).await;
    assert_eq!(hit.headers()["x-gateway-cache"], "hit");
    assert_eq!(
        hit.json::<Value>().await.unwrap()["n"],
        stored_n,
        "the stored body"
    );
    let shopper_route = platform
        .get("/api/v1/cacheable-shopper/s", Some(token))
        .await;
    assert!(!shopper_route.headers().contains_key("x-gateway-cache"));
    let anonymous_only = "/api/v1/cacheable/q?cc=max-age%3D60";
    let stored = platform.get(anonymous_only, None).await;
    assert_eq!(stored.headers()["x-gateway-cache"], "miss");
    let again = platform.get(anonymous_only, None).await;
    assert_eq!(again.headers()["x-gateway-cache"], "hit");
    let signed_in = platform.get(anonymous_only, Some(token)).await;
    assert!(!signed_in.headers().contains_key("x-gateway-cache"));
    assert_eq!(
        calls(&platform) - before,
        3,
        "the shopper route, the first anonymous request and the signed-in one"
    );
}

#[tokio::test]
async fn vary_and_query_strings_key_the_cache() {
    let platform = spawn_platform(Options::default()).await;
    let get_lang = |lang: &'static str| {
        platform
            .request(Method::GET, "/api/v1/cacheable/v?vary=Accept-Language")
            .header("accept-language", lang)
            .send()
    };
    let en: Value = get_lang("en").await.unwrap().json().await.unwrap();
    let fr: Value = get_lang("fr").await.unwrap().json().await.unwrap();
    assert_eq!(
        (en["lang"].as_str(), fr["lang"].as_str()),
        (Some("en"), Some("fr"))
    );
    assert_eq!(calls(&platform), 2, "one variant per language");
    let en_again = get_lang("en").await.unwrap();
    assert_eq!(en_again.headers()["x-gateway-cache"], "hit");
    assert_eq!(en_again.json::<Value>().await.unwrap()["lang"], "en");
    let fr_again = get_lang("fr").await.unwrap();
    assert_eq!(fr_again.headers()["x-gateway-cache"], "hit");
    assert_eq!(fr_again.json::<Value>().await.unwrap()["lang"], "fr");
    assert_eq!(calls(&platform), 2);

    for query in ["?page=1", "?page=2", "?page=1"] {
        platform
            .get(&format!("/api/v1/cacheable/q{query}"), None)
            .await;
    }
    assert_eq!(calls(&platform), 4, "two distinct query strings");
}

#[tokio::test]
async fn a_product_written_anywhere_is_visible_through_the_gateway_within_a_second() {
    let platform = spawn_platform(Options::default()).await;
    // catalog trusts the identity headers the gateway sets; writing to it directly stands for
    // a write through another gateway replica.
    let catalog = reqwest::Client::new();
    let as_admin = |request: reqwest::RequestBuilder| {
        request
            .header("x-auth-subject", "admin-1")
            .header("x-auth-roles", "shopper,admin")
    };
    let created = as_admin(catalog.post(format!("{}/admin/products", platform.catalog_base)))
        .json(&json!({"sku": "CACHE-1", "name": "Cached Lamp", "price": {"amount": 1000, "currency": "EUR"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let product: Value = created.json().await.unwrap();
    let id = product["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/products/{id}");
    platform.get(&path, None).await;
    let hit = platform.get(&path, None).await;
    assert_eq!(hit.headers()["x-gateway-cache"], "hit");

    // Written behind this gateway's back: catalog's announcement empties the cache.
    let updated = as_admin(catalog.put(format!("{}/admin/products/{id}", platform.catalog_base)))
        .header("if-match", "*")
        .json(&json!({"sku": "CACHE-1", "name": "Renamed Lamp", "price": {"amount": 1000, "currency": "EUR"}}))
        .send()
        .await
        .unwrap();
    assert!(updated.status().is_success(), "{}", updated.status());
    let written = Instant::now();
    loop {
        let seen: Value = platform.get(&path, None).await.json().await.unwrap();
        if seen["name"] == "Renamed Lamp" {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "still {} a second after the write",
            seen["name"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
