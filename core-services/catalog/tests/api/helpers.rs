use catalog::config::Settings;
use catalog::{AppState, Application};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use service_kit::testing::{TestDatabase, TestRedisPrefix};
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub redis: TestRedisPrefix,
    /// The database this instance created (a second replica can share it).
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped last: the server must stop before its database goes.
    _db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_, _| {}).await
}

/// Starts the catalog; `customize` may change settings (it gets the database URL too).
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings, &TestDatabase)) -> TestApp {
    let db = TestDatabase::create("catalog_test").await;
    let redis = TestRedisPrefix::new("catalog");
    let mut settings = Settings::load().expect("settings");
    settings.http.port = 0;
    settings.database.url = db.url.clone().into();
    settings.redis.url = service_kit::testing::redis_url().into();
    settings.redis.key_prefix = redis.prefix.clone();
    // Unless `customize` points this instance at another one's database.
    let database_url = db.url.clone();
    customize(&mut settings, &db);
    let app = Application::build(settings)
        .await
        .expect("the catalog starts");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        state,
        redis,
        database_url,
        shutdown: Some(tx),
        _db: db,
    }
}

pub fn product_json(sku: &str, name: &str) -> Value {
    json!({
        "sku": sku,
        "name": name,
        "description": format!("{name} for everyday use"),
        "brand": "Acme",
        "price": {"amount": 1999, "currency": "EUR"},
        "attributes": {"color": "black"},
        "image_urls": ["https://img.example.com/a.jpg"]
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path)
            .header("x-auth-subject", "admin-1")
            .header("x-auth-roles", "admin")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn create_category(&self, slug: &str, parent: Option<&str>) {
        let response = self
            .admin(Method::POST, "/admin/categories")
            .json(&json!({"slug": slug, "name": slug.replace('-', " "), "parent": parent}))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create category {slug}"
        );
    }

    pub async fn create_product(&self, body: &Value) -> Value {
        let response = self
            .admin(Method::POST, "/admin/products")
            .json(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::CREATED, "create {body}");
        response.json().await.expect("json")
    }

    pub async fn import(&self, products: Vec<Value>) -> Value {
        let response = self
            .admin(Method::POST, "/admin/products/import")
            .json(&json!({ "products": products }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// Every page of a listing, following `next_cursor`.
    pub async fn all_pages(&self, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/products?{query}&cursor={c}"),
                None => format!("/products?{query}"),
            };
            let page = self.get_json(&path).await;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics")
    }
}

/// Asserts an RFC 9457 answer and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].as_str().unwrap().starts_with("https://"));
    assert!(body["title"].is_string());
    body
}

/// The fields a problem names.
pub fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
