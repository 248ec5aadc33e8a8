//! A whole platform in one process for checkout tests: catalog, users, inventory, orders,
//! payments, the gateway and the payment-provider simulator, on the real PostgreSQL, Redis and
//! RabbitMQ. Each platform has its own databases, Redis prefix, exchange and queues, so
//! platforms run side by side without seeing each other.

#![allow(clippy::missing_panics_doc, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use service_kit::messaging;
use service_kit::testing::{TestDatabase, TestRedisPrefix, amqp_url, redis_url};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How a platform is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Broker for every service (the shared test broker by default).
    pub amqp_url: String,
    /// Broker URL for orders only (to put a proxy in between), if different.
    pub orders_amqp_url: Option<String>,
    /// Inventory hold.
    pub hold_seconds: u64,
    /// Orders stuck longer than this are cancelled.
    pub saga_timeout_seconds: u64,
    /// Retry delays of every consumer.
    pub retry_delays_ms: Vec<u64>,
    /// Provider call timeout.
    pub provider_timeout_ms: u64,
    /// Whether the simulator sends its webhook events (off: payments hears only its own calls'
    /// answers, to exercise the saga's recovery paths alone).
    pub provider_webhooks: bool,
    /// How long the simulator's 3-D Secure authentications take.
    pub callback_delay: Duration,
    /// Payments also takes provider callbacks from an SQS queue on moto (the AWS path).
    pub callbacks_queue: bool,
    /// Where the gateway invokes its function upstreams (`cargo lambda watch`); by default
    /// nowhere (those routes answer 503).
    pub lambda_endpoint: Option<String>,
    /// The real AWS callback path: the simulator sends its callbacks to this URL (the
    /// psp-webhook function), which queues them on this SQS queue for payments; with the
    /// signing secret given.
    pub psp_function: Option<PspFunction>,
    /// Wraps the payments service's provider adapter (to make it fail in a chosen way); the
    /// adapter is the plain HTTP one after [`Platform::restart_payments`].
    pub provider_wrapper: Option<fn(payments::provider::Provider) -> payments::provider::Provider>,
    /// The key users seals account tokens with (the notifier's, when the chain runs one); a
    /// new one when absent.
    pub account_token_key: Option<String>,
}

/// Where provider callbacks go in the AWS shape of the platform.
#[derive(Debug, Clone)]
pub struct PspFunction {
    /// The psp-webhook function's URL.
    pub callback_url: String,
    /// The queue it fills and payments consumes.
    pub queue_url: String,
    /// The signing secret shared by the provider and the function.
    pub secret: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            amqp_url: amqp_url(),
            orders_amqp_url: None,
            hold_seconds: 900,
            saga_timeout_seconds: 600,
            retry_delays_ms: vec![100, 300],
            provider_timeout_ms: 1000,
            provider_webhooks: true,
            callback_delay: Duration::from_millis(200),
            callbacks_queue: false,
            lambda_endpoint: None,
            psp_function: None,
            provider_wrapper: None,
            account_token_key: None,
        }
    }
}

/// A shopper account.
#[derive(Debug, Clone)]
pub struct Shopper {
    /// User id.
    pub id: String,
}

/// A running platform.
#[derive(Debug)]
pub struct Platform {
    /// Direct HTTP client.
    pub client: reqwest::Client,
    /// Users base URL.
    pub users: String,
    /// Catalog base URL.
    pub catalog: String,
    /// Inventory base URL.
    pub inventory: String,
    /// Orders base URL.
    pub orders: String,
    /// Payments base URL.
    pub payments: String,
    /// The payment provider simulator's base URL.
    pub simulator: String,
    /// Gateway base URL.
    pub gateway: String,
    /// The event exchange of this platform.
    pub exchange: String,
    /// Queue names, by service.
    pub queues: Vec<(String, String)>,
    /// Retry delays in use.
    pub retry_delays_ms: Vec<u64>,
    /// The provider's webhook signing secret.
    pub psp_secret: String,
    /// The provider's (simulator's) API key.
    pub psp_api_key: String,
    /// The SQS callback queue and an AWS configuration for moto, when enabled.
    pub callbacks: Option<(String, aws_config::SdkConfig)>,
    /// Broker URL.
    pub amqp_url: String,
    /// Pools on each service's database.
    pub inventory_db: PgPool,
    /// Orders database.
    pub orders_db: PgPool,
    /// Payments database.
    pub payments_db: PgPool,
    /// Users database.
    pub users_db: PgPool,
    shutdowns: Vec<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
    payments_settings: payments::config::Settings,
    payments_aws: Option<aws_config::SdkConfig>,
    payments_server: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
    _redis: TestRedisPrefix,
    _databases: Vec<TestDatabase>,
}

macro_rules! serve {
    ($app:expr, $shutdowns:expr, $servers:expr) => {{
        let app = $app;
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        $shutdowns.push(tx);
        $servers.push(tokio::spawn(async move {
            let _ = app
                .run_until_stopped(async move {
                    let _ = rx.await;
                })
                .await;
        }));
        addr
    }};
}

/// Serves payments, keeping its stop trigger and how it ended.
fn serve_payments(
    app: payments::Application,
) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    (tx, server)
}

impl Platform {
    /// Starts every service.
    pub async fn start(options: Options) -> Self {
        // Boxed: the start-up future holds every service's builder and is large.
        Box::pin(Self::start_inner(options)).await
    }

    async fn start_inner(options: Options) -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let exchange = format!("test.events.{id}");
        let redis = TestRedisPrefix::new("checkout");
        let mut shutdowns = Vec::new();
        let mut servers = Vec::new();
        let mut queues = Vec::new();

        // users
        let users_db = TestDatabase::create("co_users").await;
        let mut s = users::config::Settings::load().unwrap();
        s.http.port = 0;
        s.database.url = users_db.url.clone().into();
        s.database.max_connections = 6;
        s.redis.url = redis_url().into();
        s.redis.key_prefix = format!("{}users:", redis.prefix);
        s.auth.session_key_prefix = format!("{}session:", redis.prefix);
        s.amqp.url = options.amqp_url.clone().into();
        s.amqp.exchange.clone_from(&exchange);
        s.account.token_key = Some(
            options
                .account_token_key
                .clone()
                .unwrap_or_else(|| events::sealed::SealKey::generate().unwrap())
                .into(),
        );
        let users_settings = s.clone();
        let users_addr = serve!(
            users::Application::build(s).await.unwrap(),
            shutdowns,
            servers
        );

        // catalog
        let catalog_db = TestDatabase::create("co_catalog").await;
        let mut s = catalog::config::Settings::load().unwrap();
        s.http.port = 0;
        s.database.url = catalog_db.url.clone().into();
        s.database.max_connections = 6;
        s.redis.url = redis_url().into();
        s.redis.key_prefix = format!("{}catalog:", redis.prefix);
        let catalog_addr = serve!(
            catalog::Application::build(s).await.unwrap(),
            shutdowns,
            servers
        );

        // inventory
        let inventory_db = TestDatabase::create("co_inventory").await;
        let mut s = inventory::config::Settings::load().unwrap();
        s.http.port = 0;
        s.database.url = inventory_db.url.clone().into();
        s.database.max_connections = 6;
        s.amqp.url = options.amqp_url.clone().into();
        s.amqp.exchange.clone_from(&exchange);
        s.amqp.queue = format!("test.inventory.{id}");
        s.amqp.retry_delays_ms.clone_from(&options.retry_delays_ms);
        s.reservations.hold_seconds = options.hold_seconds;
        s.reservations.sweep_interval_ms = 200;
        queues.push(("inventory".to_owned(), s.amqp.queue.clone()));
        let inventory_addr = serve!(
            inventory::Application::build(s).await.unwrap(),
            shutdowns,
            servers
        );

        // payments and the provider simulator
        let payments_db = TestDatabase::create("co_payments").await;
        let secret = options
            .psp_function
            .as_ref()
            .map_or_else(|| format!("psp-secret-{id}"), |f| f.secret.clone());
        let payments_port = service_kit::testing::server_port();
        let mut s = payments::config::Settings::load().unwrap();
        s.http.port = payments_port;
        s.database.url = payments_db.url.clone().into();
        s.database.max_connections = 6;
        s.amqp.url = options.amqp_url.clone().into();
        s.amqp.exchange.clone_from(&exchange);
        s.amqp.queue = format!("test.payments.{id}");
        s.amqp.retry_delays_ms.clone_from(&options.retry_delays_ms);
        s.provider.timeout_ms = options.provider_timeout_ms;
        s.provider.retry_backoff_ms = 20;
        let psp_api_key = format!("sk_test_{id}");
        s.provider.api_key = psp_api_key.clone().into();
        s.provider.webhook_secret = secret.clone().into();
        let mut webhook_url = format!("http://127.0.0.1:{payments_port}/internal/psp/callback");
        let callbacks = if let Some(function) = &options.psp_function {
            let aws = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
            s.provider.callbacks_queue_url = Some(function.queue_url.clone());
            webhook_url.clone_from(&function.callback_url);
            Some((function.queue_url.clone(), aws))
        } else if options.callbacks_queue {
            let aws = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
            let queue = aws_sdk_sqs::Client::new(&aws)
                .create_queue()
                .queue_name(format!("test-psp-callbacks-{id}"))
                .send()
                .await
                .unwrap();
            let url = queue.queue_url().unwrap().to_owned();
            s.provider.callbacks_queue_url = Some(url.clone());
            // What the psp-webhook function does in AWS: the provider's events go onto the
            // queue with their signature (the function's own tests cover its verification).
            let relay = relay_to_queue(aws_sdk_sqs::Client::new(&aws), url.clone()).await;
            webhook_url = format!("http://{relay}/callback");
            Some((url, aws))
        } else {
            None
        };
        let simulator = payments::simulator::router(payments::simulator::SimulatorConfig {
            api_key: s.provider.api_key.clone(),
            webhook_url: options.provider_webhooks.then_some(webhook_url),
            webhook_secrets: payments::signature::Secrets::parse(&secret).unwrap(),
            authentication_delay: options.callback_delay,
        });
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_addr = sim_listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        shutdowns.push(tx);
        servers.push(tokio::spawn(async move {
            let _ = axum::serve(sim_listener, simulator)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        }));
        s.provider.url = format!("http://{sim_addr}");
        queues.push(("payments".to_owned(), s.amqp.queue.clone()));
        let payments_settings = s.clone();
        let payments_aws = callbacks.as_ref().map(|(_, aws)| aws.clone());
        let provider: payments::provider::Provider = std::sync::Arc::new(
            payments::stripe::StripeProvider::new(payments::stripe::StripeConfig {
                base_url: s.provider.url.clone(),
                api_key: s.provider.api_key.clone(),
                timeout: Duration::from_millis(s.provider.timeout_ms),
                attempts: s.provider.attempts,
                backoff: Duration::from_millis(s.provider.retry_backoff_ms),
            })
            .unwrap(),
        );
        let provider = match options.provider_wrapper {
            Some(wrap) => wrap(provider),
            None => provider,
        };
        let payments_server = serve_payments(
            payments::Application::build_with_provider(s, payments_aws.as_ref(), provider)
                .await
                .unwrap(),
        );
        let payments_addr: SocketAddr = format!("127.0.0.1:{payments_port}").parse().unwrap();

        // orders
        let orders_db = TestDatabase::create("co_orders").await;
        let mut s = orders::config::Settings::load().unwrap();
        s.http.port = 0;
        s.database.url = orders_db.url.clone().into();
        s.database.max_connections = 6;
        s.redis.url = redis_url().into();
        s.redis.key_prefix = format!("{}orders:", redis.prefix);
        s.amqp.url = options
            .orders_amqp_url
            .clone()
            .unwrap_or_else(|| options.amqp_url.clone())
            .into();
        s.amqp.exchange.clone_from(&exchange);
        s.amqp.queue = format!("test.orders.{id}");
        s.amqp.retry_delays_ms.clone_from(&options.retry_delays_ms);
        s.upstreams.catalog_url = format!("http://{catalog_addr}");
        s.upstreams.users_url = format!("http://{users_addr}");
        s.saga.timeout_seconds = options.saga_timeout_seconds;
        s.saga.sweep_interval_ms = 200;
        queues.push(("orders".to_owned(), s.amqp.queue.clone()));
        let orders_addr = serve!(
            orders::Application::build(s).await.unwrap(),
            shutdowns,
            servers
        );

        // What the bridge does in a full deployment: take every event, so none is unroutable.
        let (connection, channel) = messaging::connect(&options.amqp_url).await.unwrap();
        messaging::declare_exchange(&channel, &exchange)
            .await
            .unwrap();
        let sink = format!("test.sink.{id}");
        let mut args = lapin::types::FieldTable::default();
        args.insert("x-max-length".into(), lapin::types::AMQPValue::LongInt(100));
        channel
            .queue_declare(
                sink.as_str().into(),
                lapin::options::QueueDeclareOptions::default(),
                args,
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                sink.as_str().into(),
                exchange.as_str().into(),
                "#".into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .unwrap();
        drop((channel, connection));
        queues.push(("sink".to_owned(), sink));

        // gateway
        let mut s = gateway::config::Settings::load().unwrap();
        s.http.port = 0;
        s.redis.url = redis_url().into();
        s.redis.key_prefix = format!("{}gateway:", redis.prefix);
        s.auth.jwks_url = format!("http://{users_addr}/.well-known/jwks.json");
        s.auth.issuer.clone_from(&users_settings.jwt.issuer);
        s.auth.audience.clone_from(&users_settings.jwt.audience);
        s.auth
            .session_key_prefix
            .clone_from(&users_settings.auth.session_key_prefix);
        s.auth.jwks_min_refresh_ms = 0;
        for (name, addr) in [
            ("users", users_addr),
            ("catalog", catalog_addr),
            ("inventory", inventory_addr),
            ("orders", orders_addr),
            ("payments", payments_addr),
        ] {
            s.upstreams.insert(
                name.into(),
                gateway::config::UpstreamSettings {
                    url: format!("http://{addr}"),
                    timeout_ms: 10_000,
                },
            );
        }
        let lambda = function_kit::aws::for_endpoint(
            options
                .lambda_endpoint
                .as_deref()
                .unwrap_or("http://127.0.0.1:9"),
        )
        .await;
        let gateway_addr = serve!(
            gateway::Application::build_with(s, Some(&lambda))
                .await
                .unwrap(),
            shutdowns,
            servers
        );

        let connect = |db: &TestDatabase| {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(3)
                .connect_lazy(&db.url)
                .unwrap()
        };

        Self {
            client: reqwest::Client::new(),
            users: base(users_addr),
            catalog: base(catalog_addr),
            inventory: base(inventory_addr),
            orders: base(orders_addr),
            payments: base(payments_addr),
            simulator: base(sim_addr),
            gateway: base(gateway_addr),
            exchange,
            queues,
            retry_delays_ms: options.retry_delays_ms.clone(),
            psp_secret: secret,
            psp_api_key,
            callbacks,
            amqp_url: options.amqp_url.clone(),
            inventory_db: connect(&inventory_db),
            orders_db: connect(&orders_db),
            payments_db: connect(&payments_db),
            users_db: connect(&users_db),
            shutdowns,
            servers,
            payments_settings,
            payments_aws,
            payments_server: Some(payments_server),
            _redis: redis,
            _databases: vec![users_db, catalog_db, inventory_db, payments_db, orders_db],
        }
    }

    /// Waits until the payments service stops by itself (a background task died); returns
    /// how it ended (an error is what makes the process exit non-zero).
    pub async fn payments_stopped(&mut self, within: Duration) -> anyhow::Result<()> {
        let (_stop, server) = self.payments_server.take().expect("payments is running");
        tokio::time::timeout(within, server)
            .await
            .expect("payments did not stop")
            .unwrap()
    }

    /// Starts the payments service again on its database, queues and port, with the plain
    /// HTTP provider adapter (what Kubernetes does after the process exited).
    pub async fn restart_payments(&mut self) {
        let app = payments::Application::build_with(
            self.payments_settings.clone(),
            self.payments_aws.as_ref(),
        )
        .await
        .unwrap();
        self.payments_server = Some(serve_payments(app));
    }

    /// Stops every service and deletes the platform's queues and exchange.
    pub async fn stop(mut self) {
        if let Some((stop, server)) = self.payments_server.take() {
            let _ = stop.send(());
            let _ = server.await;
        }
        for tx in self.shutdowns.drain(..) {
            let _ = tx.send(());
        }
        for server in self.servers.drain(..) {
            let _ = server.await;
        }
        if let Ok((_connection, channel)) = messaging::connect(&self.amqp_url).await {
            for (_, queue) in &self.queues {
                let mut names = vec![queue.clone(), format!("{queue}.dlq")];
                names.extend(
                    self.retry_delays_ms
                        .iter()
                        .map(|ms| format!("{queue}.retry.{ms}ms")),
                );
                for name in names {
                    let _ = channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
            }
            let _ = channel
                .exchange_delete(
                    self.exchange.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
        }
    }

    /// The queue of a service.
    pub fn queue(&self, service: &str) -> String {
        self.queues
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, q)| q.clone())
            .unwrap()
    }

    /// A request straight to a service as `subject` with `roles`.
    pub fn as_user(
        &self,
        method: Method,
        url: String,
        subject: &str,
        roles: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .header("x-auth-subject", subject)
            .header("x-auth-roles", roles)
    }

    /// A request straight to a service as an admin.
    pub fn as_admin(&self, method: Method, url: String) -> reqwest::RequestBuilder {
        self.as_user(method, url, "admin-1", "admin,shopper")
    }

    /// Creates a product and stocks it.
    pub async fn product(&self, sku: &str, price: i64, stock: i32) {
        let response = self
            .as_admin(Method::POST, format!("{}/admin/products", self.catalog))
            .json(&json!({
                "sku": sku,
                "name": format!("Product {sku}"),
                "description": "A product for checkout tests",
                "price": {"amount": price, "currency": "EUR"},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        self.set_stock(sku, stock).await;
    }

    /// Sets units on hand.
    pub async fn set_stock(&self, sku: &str, on_hand: i32) {
        let response = self
            .as_admin(
                Method::PUT,
                format!("{}/admin/inventory/{sku}", self.inventory),
            )
            .json(&json!({"on_hand": on_hand, "reason": "test count", "low_threshold": 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
    }

    /// `(on_hand, reserved)` of a SKU.
    pub async fn stock(&self, sku: &str) -> (i64, i64) {
        let level: Value = self
            .as_admin(
                Method::GET,
                format!("{}/admin/inventory/{sku}", self.inventory),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            level["on_hand"].as_i64().unwrap(),
            level["reserved"].as_i64().unwrap(),
        )
    }

    /// A registered shopper (written straight to the users database: hashing hundreds of
    /// passwords would only slow tests down; sign-in is tested through the gateway).
    pub async fn shopper(&self) -> Shopper {
        self.shopper_with_sms(true).await
    }

    /// A registered shopper with a phone number who did or did not opt in to SMS.
    pub async fn shopper_with_sms(&self, sms: bool) -> Shopper {
        let id = Uuid::new_v4();
        sqlx::query("insert into users (id, email, password_hash, name, phone) values ($1, $2, 'x', 'Test Shopper', '+4915112345678')")
            .bind(id)
            .bind(format!("{}@example.com", id.simple()))
            .execute(&self.users_db)
            .await
            .unwrap();
        sqlx::query(
            "insert into preferences (user_id, sms_notifications, locale) values ($1, $2, 'de-DE')",
        )
        .bind(id)
        .bind(sms)
        .execute(&self.users_db)
        .await
        .unwrap();
        Shopper { id: id.to_string() }
    }

    /// Puts units of a SKU in a shopper's cart.
    pub async fn add_to_cart(&self, shopper: &Shopper, sku: &str, quantity: i32) {
        let response = self
            .as_user(
                Method::PUT,
                format!("{}/cart/lines/{sku}", self.orders),
                &shopper.id,
                "shopper",
            )
            .json(&json!({"quantity": quantity}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
    }

    /// `POST /checkout` for a shopper.
    pub async fn checkout(&self, shopper: &Shopper, key: &str, token: &str) -> reqwest::Response {
        self.as_user(
            Method::POST,
            format!("{}/checkout", self.orders),
            &shopper.id,
            "shopper",
        )
        .header("idempotency-key", key)
        .json(&json!({"payment_method": token}))
        .send()
        .await
        .unwrap()
    }

    /// Fills a cart and checks out; returns the order id.
    pub async fn place(&self, sku: &str, quantity: i32, token: &str) -> String {
        let shopper = self.shopper().await;
        self.place_for(&shopper, sku, quantity, token).await
    }

    /// Fills a shopper's cart and checks out; returns the order id.
    pub async fn place_for(
        &self,
        shopper: &Shopper,
        sku: &str,
        quantity: i32,
        token: &str,
    ) -> String {
        let shopper = shopper.clone();
        self.add_to_cart(&shopper, sku, quantity).await;
        let response = self
            .checkout(&shopper, &Uuid::new_v4().to_string(), token)
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        body["order_id"].as_str().unwrap().to_owned()
    }

    /// An order as an admin sees it.
    pub async fn order(&self, id: &str) -> Value {
        self.as_admin(Method::GET, format!("{}/admin/orders/{id}", self.orders))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until an order is CONFIRMED or CANCELLED, and returns it.
    pub async fn settled(&self, id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let order = self.order(id).await;
            if matches!(order["status"].as_str(), Some("CONFIRMED" | "CANCELLED")) {
                return order;
            }
            if tokio::time::Instant::now() >= deadline {
                let state = self.diagnose().await;
                panic!("order {id} did not settle: {order}\nplatform: {state}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The payment of an order with its ledger, if any.
    pub async fn payment(&self, order_id: &str) -> Option<Value> {
        let response = self
            .as_admin(
                Method::GET,
                format!("{}/admin/payments/{order_id}", self.payments),
            )
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        Some(response.json().await.unwrap())
    }

    /// Waits until the payment of an order reaches `status`.
    pub async fn payment_reaches(&self, order_id: &str, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let payment = self.payment(order_id).await;
            if let Some(p) = &payment
                && p["status"] == status
            {
                return p.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "payment of {order_id} never became {status}: {payment:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where events are: unpublished outbox rows and handled events per service, queue depths.
    pub async fn diagnose(&self) -> String {
        let mut report = String::new();
        for (name, pool) in [
            ("orders", &self.orders_db),
            ("inventory", &self.inventory_db),
            ("payments", &self.payments_db),
        ] {
            let pending: Result<i64, _> =
                sqlx::query_scalar("select count(*) from outbox where published_at is null")
                    .fetch_one(pool)
                    .await;
            let total: Result<i64, _> = sqlx::query_scalar("select count(*) from outbox")
                .fetch_one(pool)
                .await;
            let handled: Result<i64, _> =
                sqlx::query_scalar("select count(*) from processed_events")
                    .fetch_one(pool)
                    .await;
            report.push_str(&format!(
                "{name}: outbox {pending:?} pending of {total:?}, handled {handled:?}; "
            ));
        }
        if let Ok((_connection, channel)) = messaging::connect(&self.amqp_url).await {
            for (service, queue) in &self.queues {
                let depth = queue_depth(&channel, queue).await;
                let dlq = queue_depth(&channel, &format!("{queue}.dlq")).await;
                report.push_str(&format!("{service} queue {depth} (dlq {dlq}); "));
            }
        }
        report
    }

    /// Waits until every outbox is drained (all events published).
    pub async fn outboxes_drained(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        for pool in [&self.orders_db, &self.inventory_db, &self.payments_db] {
            loop {
                let pending: i64 =
                    sqlx::query_scalar("select count(*) from outbox where published_at is null")
                        .fetch_one(pool)
                        .await
                        .unwrap();
                if pending == 0 {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "outbox not drained");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn relay_to_queue(sqs: aws_sdk_sqs::Client, queue: String) -> SocketAddr {
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sqs = sqs.clone();
            let queue = queue.clone();
            async move {
                let signature = headers
                    .get(payments::signature::HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(signature)
                    .build()
                    .unwrap();
                sqs.send_message()
                    .queue_url(queue)
                    .message_body(body)
                    .message_attributes(payments::signature::MESSAGE_ATTRIBUTE, attribute)
                    .send()
                    .await
                    .unwrap();
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn base(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A RabbitMQ node of its own (own ports, data directory and node name), so a test can stop
/// and start the broker without disturbing other tests. Stopped and removed on drop.
#[derive(Debug)]
pub struct RabbitNode {
    /// Erlang node name.
    pub node: String,
    /// AMQP URL.
    pub url: String,
    dir: std::path::PathBuf,
    child: std::process::Child,
}

impl RabbitNode {
    /// Starts the node and waits until it accepts AMQP connections. A node that does not come
    /// up (it exits while booting, its port taken say, or does not answer within 90 s) is
    /// started again on fresh ports; the third failure fails the test with the node's log.
    pub async fn start() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let node = format!("rtest{}@localhost", &id[..8]);
        let dir = std::env::temp_dir().join(format!("rabbit-{id}"));
        let mut attempt = 1;
        loop {
            let _ = std::fs::remove_dir_all(&dir);
            let amqp_port = service_kit::testing::server_port();
            let child = Self::spawn(&node, &dir, amqp_port);
            let mut rabbit = Self {
                node: node.clone(),
                url: format!("amqp://guest:guest@127.0.0.1:{amqp_port}/%2f"),
                dir: dir.clone(),
                child,
            };
            match rabbit.boot(Duration::from_secs(90)).await {
                Ok(()) => return rabbit,
                Err(reason) if attempt < 3 => {
                    eprintln!(
                        "RabbitMQ node {node} did not come up ({reason}); starting it again\n{}",
                        rabbit.log_tail()
                    );
                    attempt += 1;
                }
                Err(reason) => panic!(
                    "RabbitMQ node {node} did not start: {reason}\n{}",
                    rabbit.log_tail()
                ),
            }
        }
    }

    fn spawn(node: &str, dir: &std::path::Path, amqp_port: u16) -> std::process::Child {
        std::fs::create_dir_all(dir.join("mnesia")).unwrap();
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{amqp_port}\nloopback_users = none\n"),
        )
        .unwrap();
        let output = std::fs::File::create(dir.join("server.out")).unwrap();
        let errors = output.try_clone().unwrap();
        // As root, the server script runs the broker as the `rabbitmq` user: let it write.
        let _ = std::process::Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(dir)
            .status();
        std::process::Command::new("rabbitmq-server")
            .env("RABBITMQ_NODENAME", node)
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_DIST_PORT",
                service_kit::testing::server_port().to_string(),
            )
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_MNESIA_DIR", dir.join("mnesia/node"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", dir.join("feature_flags"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .stdout(output)
            .stderr(errors)
            .spawn()
            .expect("rabbitmq-server must be installed (cargo xtask test installs it)")
    }

    /// Waits until the node accepts AMQP; `Err` says why not (it exited, or time ran out).
    async fn boot(&mut self, within: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + within;
        while messaging::connect(&self.url).await.is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited: {status}"));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("no AMQP answer within {}s", within.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    /// The end of the server's output and logs, for a failure message.
    fn log_tail(&self) -> String {
        let mut files = vec![self.dir.join("server.out")];
        if let Ok(entries) = std::fs::read_dir(self.dir.join("log")) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
        files
            .iter()
            .filter_map(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                Some(format!("--- {}\n{tail}", path.display()))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn wait_accepting(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while messaging::connect(&self.url).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "RabbitMQ node {} did not accept connections again\n{}",
                self.node,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn ctl(&self, command: &str) {
        let status = std::process::Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.node, command])
            .status()
            .expect("rabbitmqctl");
        assert!(status.success(), "rabbitmqctl {command} failed");
    }

    /// `rabbitmqctl stop_app`: the broker closes every connection and refuses new ones.
    pub fn stop_app(&self) {
        self.ctl("stop_app");
    }

    /// `rabbitmqctl start_app`, then waits until AMQP answers again.
    pub async fn start_app(&self) {
        self.ctl("start_app");
        self.wait_accepting(Duration::from_secs(60)).await;
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.node, "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Messages ready in a queue.
pub async fn queue_depth(channel: &lapin::Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .map(|q| q.message_count())
        .unwrap_or(0)
}
