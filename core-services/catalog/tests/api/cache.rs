use redis::Commands;
use reqwest::{Method, StatusCode};
use serde_json::json;

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, product_json, spawn_app, spawn_app_with};

/// Without the in-process first level, so reads show what Redis holds.
async fn redis_only() -> TestApp {
    spawn_app_with(|settings, _| settings.cache.local_max_bytes = 0).await
}

#[tokio::test]
async fn a_cached_product_is_served_from_redis_and_invalidated_by_an_update() {
    let app = redis_only().await;
    let created = app
        .create_product(&product_json("cache-1", "Cached Kettle"))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/products/{id}");
    let mut redis = app.redis.connection();
    let generation_key = format!("{}cache:gen", app.redis.prefix);

    let first = app.get(&path).await;
    assert_eq!(first.headers()["x-cache"], "miss");
    let generation: String = redis.get(&generation_key).unwrap();
    let entry_key = app
        .state
        .cache
        .entry_key(&generation, "product", &format!("id:{id}"));
    let stored: Vec<u8> = redis.get(&entry_key).unwrap();
    assert!(String::from_utf8_lossy(&stored).contains("Cached Kettle"));
    let ttl: i64 = redis.pttl(&entry_key).unwrap();
    assert!(ttl > 0 && ttl <= 300_000, "ttl {ttl}");

    // Prove the next read comes from Redis: change the entry behind the service's back.
    let planted = "\"1\"\n{\"planted\":true}";
    let _: () = redis
        .set_options(
            &entry_key,
            planted,
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(60_000)),
        )
        .unwrap();
    let second = app.get(&path).await;
    assert_eq!(second.headers()["x-cache"], "hit");
    assert_eq!(
        second.json::<serde_json::Value>().await.unwrap(),
        json!({"planted": true})
    );

    let mut body = product_json("cache-1", "Cached Kettle v2");
    body["price"] = json!({"amount": 2999, "currency": "EUR"});
    let updated = app
        .admin(Method::PUT, &format!("/admin/products/{id}"))
        .header("if-match", "\"1\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);

    // The write deleted the entry and moved to a new generation.
    let exists: bool = redis.exists(&entry_key).unwrap();
    assert!(!exists, "the old entry is gone");
    let new_generation: String = redis.get(&generation_key).unwrap();
    assert_ne!(new_generation, generation);

    let third = app.get(&path).await;
    assert_eq!(third.headers()["x-cache"], "miss");
    let fresh: serde_json::Value = third.json().await.unwrap();
    assert_eq!(fresh["name"], "Cached Kettle v2");
    let new_key = app
        .state
        .cache
        .entry_key(&new_generation, "product", &format!("id:{id}"));
    let exists: bool = redis.exists(&new_key).unwrap();
    assert!(exists);
    assert_eq!(app.get(&path).await.headers()["x-cache"], "hit");
}

#[tokio::test]
async fn listing_pages_are_cached_and_any_write_makes_them_unreachable() {
    let app = redis_only().await;
    app.create_product(&product_json("list-1", "First Product"))
        .await;
    assert_eq!(app.get("/products").await.headers()["x-cache"], "miss");
    let cached = app.get("/products").await;
    assert_eq!(cached.headers()["x-cache"], "hit");
    assert_eq!(
        cached.json::<serde_json::Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    app.create_product(&product_json("list-2", "Second Product"))
        .await;
    let after = app.get("/products").await;
    assert_eq!(after.headers()["x-cache"], "miss");
    assert_eq!(
        after.json::<serde_json::Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"catalog_cache_lookups_total{cache="list",result="hit"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"catalog_cache_lookups_total{cache="list",result="miss"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn concurrent_misses_for_one_product_store_one_entry() {
    let app = spawn_app().await;
    let created = app
        .create_product(&product_json("flight-1", "Popular Item"))
        .await;
    let path = format!("/products/{}", created["id"].as_str().unwrap());
    let requests = (0..40).map(|_| app.get(&path));
    let responses = futures::future::join_all(requests).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    let keys: Vec<String> = app
        .redis
        .keys()
        .into_iter()
        .filter(|k| k.contains(":product:id:"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[tokio::test]
async fn a_hot_product_is_served_from_memory_and_a_write_on_any_replica_drops_it() {
    let app = spawn_app().await;
    let created = app
        .create_product(&product_json("hot-1", "Hot Kettle"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/products/{id}");
    assert_eq!(app.get(&path).await.headers()["x-cache"], "miss");
    // The subscription to invalidations empties memory once when it is established, and this
    // replica hears its own creation announced: either may land after the first read stored
    // the entry, and the next read then comes from Redis. Read until memory holds it.
    let started = Instant::now();
    let local = loop {
        let answer = app.get(&path).await;
        let source = answer.headers()["x-cache"].to_str().unwrap().to_owned();
        if source == "local" {
            break answer;
        }
        assert_eq!(source, "hit", "a second read is served from a cache");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never held locally"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        local.json::<serde_json::Value>().await.unwrap()["name"],
        "Hot Kettle"
    );
    // Proof it is memory, not Redis: Redis loses everything and the answer stays.
    let mut redis = app.redis.connection();
    for key in app.redis.keys() {
        let _: () = redis.del(&key).unwrap();
    }
    assert_eq!(app.get(&path).await.headers()["x-cache"], "local");

    // A write on this replica: the next read is fresh at once.
    let mut body = product_json("hot-1", "Hot Kettle v2");
    body["price"] = json!({"amount": 2999, "currency": "EUR"});
    let updated = app
        .admin(Method::PUT, &format!("/admin/products/{id}"))
        .header("if-match", "*")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let fresh = app.get(&path).await;
    assert_eq!(fresh.headers()["x-cache"], "miss");
    assert_eq!(
        fresh.json::<serde_json::Value>().await.unwrap()["name"],
        "Hot Kettle v2"
    );

    // A second replica on the same database and Redis keeps the product in its memory; a
    // write on the first reaches it through the invalidation channel within a second.
    let database_url = app.database_url.clone();
    let prefix = app.redis.prefix.clone();
    let replica = spawn_app_with(move |settings, _| {
        settings.database.url = database_url.into();
        settings.redis.key_prefix = prefix;
    })
    .await;
    // (Its subscription empties its memory once when it is established: read until it holds.)
    let started = Instant::now();
    while replica.get(&path).await.headers()["x-cache"] != "local" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never held locally"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    body["name"] = json!("Hot Kettle v3");
    let updated = app
        .admin(Method::PUT, &format!("/admin/products/{id}"))
        .header("if-match", "*")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let written = Instant::now();
    loop {
        let seen: serde_json::Value = replica.get(&path).await.json().await.unwrap();
        if seen["name"] == "Hot Kettle v3" {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "the replica still served {} a second after the write",
            seen["name"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"catalog_cache_lookups_total{cache="product",result="local"} 2"#),
        "{metrics}"
    );
}
