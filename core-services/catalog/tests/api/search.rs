use serde_json::{Value, json};

use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, product_json, spawn_app};

fn product(
    sku: &str,
    name: &str,
    brand: &str,
    description: &str,
    category: &str,
    price: i64,
    attrs: Value,
) -> Value {
    json!({"sku": sku, "name": name, "brand": brand, "description": description, "category": category,
           "price": {"amount": price, "currency": "EUR"}, "attributes": attrs})
}

/// A small fixed catalog whose search results are known in advance.
async fn seeded() -> TestApp {
    let app = spawn_app().await;
    app.create_category("electronics", None).await;
    app.create_category("audio", Some("electronics")).await;
    app.create_category("headphones", Some("audio")).await;
    app.create_category("home", None).await;
    let report = app
        .import(vec![
            product(
                "HP-1",
                "Wireless Noise Cancelling Headphones",
                "Sonora",
                "Over-ear headphones with 30 hours of battery.",
                "headphones",
                24900,
                json!({"color": "black", "wireless": true}),
            ),
            product(
                "HP-2",
                "Wired Studio Headphones",
                "Sonora",
                "Closed-back monitoring headphones for the studio.",
                "headphones",
                9900,
                json!({"color": "silver", "wireless": false}),
            ),
            product(
                "SP-1",
                "Bluetooth Speaker",
                "Boomly",
                "Portable speaker, pairs with headphones and phones.",
                "audio",
                5900,
                json!({"color": "black"}),
            ),
            product(
                "LAMP-1",
                "Aurora Desk Lamp",
                "Lumen",
                "A warm desk lamp.",
                "home",
                3900,
                json!({"color": "white"}),
            ),
            product(
                "LAMP-2",
                "Reading Lamp",
                "Aurora",
                "A lamp for reading.",
                "home",
                2900,
                json!({"color": "black"}),
            ),
            product(
                "LAMP-3",
                "Floor Lamp",
                "Lumen",
                "Tall lamp whose light recalls the aurora borealis.",
                "home",
                7900,
                json!({"color": "black"}),
            ),
            product(
                "MUG-1",
                "Coffee Mug",
                "Kiln",
                "Stoneware mug.",
                "home",
                1200,
                json!({"color": "white"}),
            ),
        ])
        .await;
    assert_eq!(report["created"], 7, "{report}");
    app
}

fn skus(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_ranks_name_over_brand_over_description() {
    let app = seeded().await;
    let page = app.get_json("/products?q=aurora").await;
    assert_eq!(skus(&page), ["LAMP-1", "LAMP-2", "LAMP-3"]);
}

#[tokio::test]
async fn search_finds_the_best_matches_first_and_understands_web_search_syntax() {
    let app = seeded().await;
    let page = app
        .get_json("/products?q=noise+cancelling+headphones")
        .await;
    assert_eq!(skus(&page)[0], "HP-1");
    let page = app.get_json("/products?q=headphones").await;
    let found = skus(&page);
    assert_eq!(
        &found[..2]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .tap_sort(),
        &["HP-1", "HP-2"]
    );
    assert_eq!(
        found[2], "SP-1",
        "a description-only hit ranks after name hits"
    );
    let page = app.get_json("/products?q=headphones+-wired").await;
    assert!(!skus(&page).contains(&"HP-2".to_owned()));
    let page = app.get_json("/products?q=%22desk+lamp%22").await;
    assert_eq!(skus(&page), ["LAMP-1"]);
}

#[tokio::test]
async fn short_queries_tolerate_typos() {
    let app = seeded().await;
    let page = app.get_json("/products?q=hedphones").await;
    let found = skus(&page);
    assert!(found.len() >= 2, "{found:?}");
    assert!(
        found[..2].contains(&"HP-1".to_owned()) && found[..2].contains(&"HP-2".to_owned()),
        "{found:?}"
    );
    assert_eq!(skus(&app.get_json("/products?q=speakr").await), ["SP-1"]);
    assert!(skus(&app.get_json("/products?q=zzzzqqq").await).is_empty());
}

#[tokio::test]
async fn a_word_being_typed_matches_as_a_prefix_and_exact_words_rank_first() {
    let app = spawn_app().await;
    app.import(vec![
        product_json("LS-1", "Linen Lampshade"),
        product_json("FL-1", "Oak Floor Lamp"),
    ])
    .await;
    // "lamp" is a word of FL-1; it is also how "lampshade" starts.
    assert_eq!(
        skus(&app.get_json("/products?q=lamp").await),
        ["FL-1", "LS-1"]
    );
    // "lampsh" starts "lampshade"; "lamp" is a close word, so FL-1 follows.
    assert_eq!(skus(&app.get_json("/products?q=lampsh").await)[0], "LS-1");
    assert!(skus(&app.get_json("/products?q=zzzzqqq").await).is_empty());
}

#[tokio::test]
async fn pages_of_a_misspelt_search_keep_matching_close_words_to_the_end() {
    let app = spawn_app().await;
    app.import(
        (0..7)
            .map(|i| product_json(&format!("KT-{i}"), &format!("Enamel Kettle {i}")))
            .collect(),
    )
    .await;
    app.import(vec![product_json("MUG-1", "Enamel Mug")]).await;
    // The first page of three finds no exact "kettel"; its cursor carries the close-word
    // matching, so the pages after it continue the same result list.
    let found: Vec<String> = app
        .all_pages("q=kettel&limit=3")
        .await
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..7).map(|i| format!("KT-{i}")).collect::<Vec<_>>(),
        "{found:?}"
    );
    // With enough exact matches for a page, nothing close is mixed in.
    let exact = app.get_json("/products?q=enamel&limit=3").await;
    assert_eq!(skus(&exact).len(), 3);
    assert!(exact["next_cursor"].is_string());
}

#[tokio::test]
async fn words_of_new_and_renamed_products_are_learnt_for_typos() {
    let app = spawn_app().await;
    let created = app
        .create_product(&product_json("ZZ-1", "Zanzibar Teapot"))
        .await;
    assert_eq!(skus(&app.get_json("/products?q=zanzibr").await), ["ZZ-1"]);

    let id = created["id"].as_str().unwrap();
    let mut renamed = product_json("ZZ-1", "Quokka Teapot");
    renamed["description"] = json!("A teapot");
    let response = app
        .admin(Method::PUT, &format!("/admin/products/{id}"))
        .header("if-match", "\"1\"")
        .json(&renamed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(skus(&app.get_json("/products?q=qokka").await), ["ZZ-1"]);
}

#[tokio::test]
async fn filters_combine_and_categories_include_their_descendants() {
    let app = seeded().await;
    let mut electronics = skus(
        &app.get_json("/products?category=electronics&limit=100")
            .await,
    );
    electronics.sort();
    assert_eq!(electronics, ["HP-1", "HP-2", "SP-1"]);
    let mut audio = skus(&app.get_json("/products?category=audio").await);
    audio.sort();
    assert_eq!(audio, ["HP-1", "HP-2", "SP-1"]);
    assert_eq!(
        skus(
            &app.get_json("/products?category=headphones&attr.color=black")
                .await
        ),
        ["HP-1"]
    );
    assert_eq!(
        skus(&app.get_json("/products?attr.wireless=true").await),
        ["HP-1"]
    );
    let mut lumen = skus(&app.get_json("/products?brand=lumen").await);
    lumen.sort();
    assert_eq!(lumen, ["LAMP-1", "LAMP-3"]);
    let mut two_brands = skus(&app.get_json("/products?brand=Kiln&brand=Boomly").await);
    two_brands.sort();
    assert_eq!(two_brands, ["MUG-1", "SP-1"]);
    assert_eq!(
        skus(
            &app.get_json("/products?min_price=2900&max_price=5900&sort=price_asc")
                .await
        ),
        ["LAMP-2", "LAMP-1", "SP-1"]
    );
    assert!(skus(&app.get_json("/products?category=nowhere").await).is_empty());
    assert!(skus(&app.get_json("/products?currency=USD").await).is_empty());
}

#[tokio::test]
async fn sorting_by_price_and_newest() {
    let app = seeded().await;
    let asc = app.all_pages("sort=price_asc&limit=3").await;
    let prices: Vec<i64> = asc
        .iter()
        .map(|p| p["price"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [1200, 2900, 3900, 5900, 7900, 9900, 24900]);
    let desc = app.all_pages("sort=price_desc&limit=2").await;
    let prices: Vec<i64> = desc
        .iter()
        .map(|p| p["price"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [24900, 9900, 7900, 5900, 3900, 2900, 1200]);
    let newest = app
        .create_product(&product(
            "NEW-1",
            "Brand New Thing",
            "Acme",
            "",
            "home",
            100,
            json!({}),
        ))
        .await;
    assert_eq!(
        app.get_json("/products?limit=1").await["items"][0]["id"],
        newest["id"]
    );
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl<T: Ord> TapSort for Vec<T> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}
