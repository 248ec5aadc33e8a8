use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, problem_fields, product_json, spawn_app};

#[tokio::test]
async fn a_product_round_trips_through_create_read_replace_patch_and_delete() {
    let app = spawn_app().await;
    app.create_category("audio", None).await;

    let mut body = product_json("hp-100", "Studio Headphones");
    body["category"] = json!("audio");
    let response = app
        .admin(Method::POST, "/admin/products")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["sku"], "HP-100");
    assert_eq!(created["category"], "audio");
    assert_eq!(created["price"], json!({"amount": 1999, "currency": "EUR"}));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/products/{id}"));

    assert_eq!(app.get_json(&location).await, created);
    assert_eq!(
        app.get_json("/products/by-sku/hp-100").await["id"],
        id.as_str()
    );

    let mut replacement = body.clone();
    replacement["name"] = json!("Studio Headphones II");
    let response = app
        .admin(Method::PUT, &format!("/admin/products/{id}"))
        .header("if-match", "\"1\"")
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");

    let response = app
        .admin(Method::PATCH, &format!("/admin/products/{id}"))
        .header("if-match", "\"2\"")
        .header("content-type", "application/merge-patch+json")
        .body(
            json!({"brand": null, "price": {"amount": 2500}, "attributes": {"size": "L"}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patched: serde_json::Value = response.json().await.unwrap();
    assert_eq!(patched["brand"], json!(null));
    assert_eq!(patched["price"], json!({"amount": 2500, "currency": "EUR"}));
    assert_eq!(
        patched["attributes"],
        json!({"color": "black", "size": "L"})
    );
    assert_eq!(patched["name"], "Studio Headphones II");
    assert_eq!(patched["version"], 3);
    assert_eq!(app.get_json(&location).await, patched);

    let response = app
        .admin(Method::DELETE, &format!("/admin/products/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&location).await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.get("/products/by-sku/HP-100").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let response = app
        .admin(Method::GET, &format!("/admin/products/{id}"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;

    // A deleted product's SKU can be used again.
    let again = app.create_product(&body).await;
    assert_ne!(again["id"], created["id"]);
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_a_missing_one_is_428() {
    let app = spawn_app().await;
    let created = app.create_product(&product_json("sku-1", "Lamp")).await;
    let path = format!("/admin/products/{}", created["id"].as_str().unwrap());
    let body = product_json("sku-1", "Desk Lamp");

    let response = app
        .admin(Method::PUT, &path)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PRECONDITION_REQUIRED).await;

    let ok = app
        .admin(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // A second writer still holding version 1 loses.
    let stale = app
        .admin(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let stale_patch = app
        .admin(Method::PATCH, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale_patch, StatusCode::PRECONDITION_FAILED).await;
    let garbage = app
        .admin(Method::PUT, &path)
        .header("if-match", "W/abc")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(garbage, StatusCode::PRECONDITION_FAILED).await;
    let stale_delete = app
        .admin(Method::DELETE, &path)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_problem(stale_delete, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        app.get_json(&format!("/products/{}", created["id"].as_str().unwrap()))
            .await["name"],
        "Desk Lamp"
    );
}

#[tokio::test]
async fn a_duplicate_sku_is_a_conflict() {
    let app = spawn_app().await;
    app.create_product(&product_json("dup-1", "First")).await;
    let response = app
        .admin(Method::POST, "/admin/products")
        .json(&product_json("DUP-1", "Second"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn only_admins_may_write() {
    let app = spawn_app().await;
    let body = product_json("a-1", "Anything");
    let anonymous = app
        .request(Method::POST, "/admin/products")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
    let shopper = app
        .request(Method::POST, "/admin/products")
        .header("x-auth-subject", "user-7")
        .header("x-auth-roles", "shopper")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(shopper, StatusCode::FORBIDDEN).await;
    assert_eq!(app.get_json("/products").await["items"], json!([]));
}

#[tokio::test]
async fn inactive_products_are_hidden_from_shoppers_but_not_from_admins() {
    let app = spawn_app().await;
    let mut body = product_json("hidden-1", "Secret Prototype");
    body["active"] = json!(false);
    let created = app.create_product(&body).await;
    let id = created["id"].as_str().unwrap();
    assert_problem(
        app.get(&format!("/products/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.get_json("/products?q=prototype").await["items"],
        json!([])
    );
    let admin = app
        .admin(Method::GET, &format!("/admin/products/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
}

#[tokio::test]
async fn admins_list_products_by_status_page_by_page_without_caching() {
    let app = spawn_app().await;
    let mut ids = std::collections::BTreeMap::new();
    for i in 0..7 {
        let mut body = product_json(&format!("st-{i}"), &format!("Status Lamp {i}"));
        body["active"] = json!(i % 2 == 0);
        let created = app.create_product(&body).await;
        ids.insert(
            created["id"].as_str().unwrap().to_owned(),
            created["active"].as_bool().unwrap(),
        );
    }
    let deleted = app
        .create_product(&product_json("st-gone", "Gone Lamp"))
        .await;
    let response = app
        .admin(
            Method::DELETE,
            &format!("/admin/products/{}", deleted["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Every page of 3, following cursors, for each status.
    let pages = |status: &'static str| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/admin/products?limit=3&status={status}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let response = app.admin(Method::GET, &path).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                let page: Value = response.json().await.unwrap();
                let items = page["items"].as_array().unwrap();
                assert!(items.len() <= 3);
                seen.extend(items.iter().map(|p| {
                    (
                        p["id"].as_str().unwrap().to_owned(),
                        p["active"].as_bool().unwrap(),
                    )
                }));
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            seen
        }
    };
    let all = pages("all").await;
    assert_eq!(all.len(), 7, "{all:?}");
    assert_eq!(
        all.iter()
            .cloned()
            .collect::<std::collections::BTreeMap<_, _>>(),
        ids
    );
    let inactive = pages("inactive").await;
    assert_eq!(inactive.len(), 3);
    assert!(inactive.iter().all(|(_, active)| !active));
    let active = pages("active").await;
    assert_eq!(active.len(), 4);
    assert!(active.iter().all(|(_, active)| *active));
    // The default is every status, with the public filters; deleted products never show.
    let searched: Value = app
        .admin(Method::GET, "/admin/products?q=lamp&brand=acme")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(searched["items"].as_array().unwrap().len(), 7, "{searched}");

    // Deactivating shows at once (admin listings are not cached).
    let (id, _) = active.first().unwrap().clone();
    let product = app
        .admin(Method::GET, &format!("/admin/products/{id}"))
        .send()
        .await
        .unwrap();
    let etag = product.headers()["etag"].to_str().unwrap().to_owned();
    let patched = app
        .admin(Method::PATCH, &format!("/admin/products/{id}"))
        .header("if-match", etag)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"active": false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(pages("inactive").await.len(), 4);

    // Bad input names its field; shoppers are refused.
    let bad = app
        .admin(Method::GET, "/admin/products?status=archived")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem_fields(&problem), ["status"]);
    let shopper = app
        .request(Method::GET, "/admin/products")
        .header("x-auth-subject", "user-7")
        .header("x-auth-roles", "shopper")
        .send()
        .await
        .unwrap();
    assert_problem(shopper, StatusCode::FORBIDDEN).await;
    let public = app.get("/products?status=inactive").await;
    assert_problem(public, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn import_creates_and_updates_by_sku_and_reports_each_bad_row() {
    let app = spawn_app().await;
    app.create_category("kitchen", None).await;
    app.create_product(&product_json("imp-1", "Old Name")).await;

    let mut kettle = product_json("imp-2", "Kettle");
    kettle["category"] = json!("kitchen");
    // JSON has one number type: 2500.0 is the integer 2500.
    kettle["price"]["amount"] = json!(2500.0);
    // A control character fails its row only (the text rule, applied per row).
    let mut control = product_json("imp-6", "Lamp");
    control["name"] = json!("Bad\u{0}name");
    let mut unknown_category = product_json("imp-3", "Toaster");
    unknown_category["category"] = json!("garage");
    let mut bad_price = product_json("imp-4", "Mixer");
    bad_price["price"] = json!({"amount": -1, "currency": "EUR"});
    let report = app
        .import(vec![
            product_json("imp-1", "New Name"),
            kettle,
            unknown_category,
            bad_price,
            json!({"sku": "imp-5"}),
            product_json("imp-2", "Kettle again"),
            control,
            json!(42),
        ])
        .await;
    assert_eq!(report["created"], 1);
    assert_eq!(report["updated"], 1);
    assert_eq!(report["failed"], 6);
    let rows: Vec<(u64, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["errors"][0]["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "category".to_owned()),
            (3, "price.amount".to_owned()),
            (4, "name".to_owned()),
            (5, "sku".to_owned()),
            (6, "name".to_owned()),
            (7, String::new()),
        ]
    );
    assert_eq!(
        app.get_json("/products/by-sku/imp-2").await["price"]["amount"],
        2500
    );
    assert_eq!(
        app.get_json("/products/by-sku/imp-1").await["name"],
        "New Name"
    );
    assert_eq!(
        app.get_json("/products/by-sku/imp-2").await["category"],
        "kitchen"
    );
    assert_problem(
        app.get("/products/by-sku/imp-3").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn categories_form_a_tree_and_duplicates_conflict() {
    let app = spawn_app().await;
    app.create_category("audio", None).await;
    app.create_category("headphones", Some("audio")).await;
    app.create_category("speakers", Some("audio")).await;
    let tree = app.get_json("/categories").await;
    assert_eq!(tree[0]["slug"], "audio");
    let children: Vec<&str> = tree[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["headphones", "speakers"]);

    let dup = app
        .admin(Method::POST, "/admin/categories")
        .json(&json!({"slug": "audio", "name": "Audio"}))
        .send()
        .await
        .unwrap();
    assert_problem(dup, StatusCode::CONFLICT).await;
    let orphan = app
        .admin(Method::POST, "/admin/categories")
        .json(&json!({"slug": "cables", "name": "Cables", "parent": "nowhere"}))
        .send()
        .await
        .unwrap();
    assert_problem(orphan, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_matching_if_none_match_answers_304() {
    let app = spawn_app().await;
    let created = app.create_product(&product_json("etag-1", "Mug")).await;
    let path = format!("/products/{}", created["id"].as_str().unwrap());
    let first = app.get(&path).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let second = app
        .request(Method::GET, &path)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert!(second.bytes().await.unwrap().is_empty());

    let list = app.get("/products").await;
    let list_etag = list.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .request(Method::GET, "/products")
        .header("if-none-match", &list_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let other = app
        .request(Method::GET, &path)
        .header("if-none-match", "\"999\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}
