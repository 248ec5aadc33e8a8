use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use service_kit::testing::{TestDatabase, TestRedisPrefix};
use tokio::sync::oneshot;
use users::Application;
use users::config::Settings;

pub struct TestApp {
    pub base: String,
    pub pool: sqlx::PgPool,
    pub seal: events::sealed::SealKey,
    pub client: reqwest::Client,
    pub redis: TestRedisPrefix,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
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
    let db = TestDatabase::create("users_test").await;
    let redis = TestRedisPrefix::new("users");
    let mut settings = Settings::load().unwrap();
    settings.http.port = 0;
    settings.database.url = db.url.clone().into();
    settings.redis.url = service_kit::testing::redis_url().into();
    settings.redis.key_prefix = redis.prefix.clone();
    settings.auth.session_key_prefix = format!("{}session:", redis.prefix);
    // Events go to an exchange of this test's own (the tests read them from the outbox).
    settings.amqp.url = service_kit::testing::amqp_url().into();
    settings.amqp.exchange = format!("test.users.{}", uuid::Uuid::new_v4().simple());
    let key = events::sealed::SealKey::generate().unwrap();
    settings.account.token_key = Some(key.clone().into());
    let seal = events::sealed::SealKey::from_base64(&key).unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let app = Application::build(settings.clone()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        pool,
        seal,
        client: reqwest::Client::new(),
        redis,
        settings,
        shutdown: Some(tx),
        _db: db,
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, password: &str) -> Value {
        let response = self
            .post(
                "/auth/register",
                json!({"email": email, "password": password, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let (id, email, roles): (uuid::Uuid, String, Vec<String>) =
            sqlx::query_as("select id, email, roles from users where email = lower($1)")
                .bind(email)
                .fetch_one(&self.pool)
                .await
                .unwrap();
        json!({"id": id.to_string(), "email": email, "roles": roles})
    }

    /// The events written to the outbox so far, oldest first, as (type, envelope).
    pub async fn events(&self) -> Vec<(String, Value)> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("select event_type, payload from outbox order by seq")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        rows.into_iter()
            .map(|(t, payload)| (t, serde_json::from_slice(&payload).unwrap()))
            .collect()
    }

    /// The events of one type.
    pub async fn events_of(&self, event_type: &str) -> Vec<Value> {
        self.events()
            .await
            .into_iter()
            .filter(|(t, _)| t == event_type)
            .map(|(_, e)| e)
            .collect()
    }

    /// Opens the sealed token of an event, as the notifier does.
    pub fn open(&self, event: &Value, field: &str) -> String {
        let pointer = format!("/data/{field}");
        let sealed = event.pointer(&pointer).and_then(Value::as_str).unwrap();
        let user_id = event["data"]["user_id"]
            .as_str()
            .or_else(|| event["data"]["account"]["user_id"].as_str())
            .unwrap();
        let event_type = event["type"].as_str().unwrap();
        self.seal.open(sealed, event_type, user_id).unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/auth/login", json!({"email": email, "password": password}))
            .await
    }

    /// Signs in through the gateway as it forwards: `forwarded_for` is the `X-Forwarded-For`
    /// it sends (the client's own entries, then the address the gateway saw).
    pub async fn login_via(&self, email: &str, password: &str, forwarded_for: &str) -> Response {
        self.request(Method::POST, "/auth/login")
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Calls a route as the gateway would after verifying a token for `user_id`.
    pub fn as_user(
        &self,
        method: Method,
        path: &str,
        user_id: &str,
        roles: &str,
    ) -> RequestBuilder {
        self.request(method, path)
            .header("x-auth-subject", user_id)
            .header("x-auth-roles", roles)
    }
}

pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}
