use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, problem_fields, spawn_app};

fn gadget(i: usize) -> serde_json::Value {
    json!({"sku": format!("GAD-{i:04}"), "name": format!("Gadget number {i}"), "brand": "Acme",
           "price": {"amount": (i % 17) as i64 * 100 + 500, "currency": "EUR"}})
}

#[tokio::test]
async fn keyset_pagination_visits_every_product_exactly_once_while_products_are_inserted() {
    let app = spawn_app().await;
    let originals: Vec<_> = (0..120).map(gadget).collect();
    app.import(originals).await;
    let original_ids: HashSet<String> = app
        .all_pages("limit=100")
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(original_ids.len(), 120);

    for (round, query) in [
        "sort=newest&limit=7",
        "sort=price_asc&limit=9",
        "sort=price_desc&limit=8",
        "q=gadget&limit=11",
    ]
    .into_iter()
    .enumerate()
    {
        // A writer keeps adding products while the reader pages through.
        let writer = {
            let client = app.client.clone();
            let url = app.url("/admin/products");
            tokio::spawn(async move {
                for i in 0..25 {
                    let response = client
                        .post(&url)
                        .header("x-auth-subject", "admin")
                        .header("x-auth-roles", "admin")
                        .json(&gadget(1000 + round * 100 + i))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let seen = app.all_pages(query).await;
        writer.await.unwrap();

        let mut counts: HashMap<String, usize> = HashMap::new();
        for product in &seen {
            *counts
                .entry(product["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(duplicates.is_empty(), "{query}: seen twice: {duplicates:?}");
        let missing: Vec<_> = original_ids
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .collect();
        assert!(missing.is_empty(), "{query}: never seen: {missing:?}");
    }
}

#[tokio::test]
async fn a_cursor_only_works_with_the_query_that_issued_it() {
    let app = spawn_app().await;
    app.import((0..5).map(gadget).collect()).await;
    let page = app.get_json("/products?sort=price_asc&limit=2").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let ok = app
        .get(&format!("/products?sort=price_asc&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // Changing the page size is fine; changing filters or sort is not.
    let ok = app
        .get(&format!("/products?sort=price_asc&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    for other in [
        "sort=price_desc",
        "sort=price_asc&brand=acme",
        "sort=newest",
    ] {
        let response = app.get(&format!("/products?{other}&cursor={cursor}")).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_fields(&problem), ["cursor"], "{other}");
    }
    // A tampered cursor is refused, not trusted.
    let mut tampered = cursor.to_owned();
    tampered.insert(5, 'A');
    let response = app
        .get(&format!("/products?sort=price_asc&cursor={tampered}"))
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}
