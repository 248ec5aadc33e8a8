//! A platform with its serverless half: the topology on moto (optionally behind a proxy that
//! can take "AWS" down), the bridge, `cargo lambda watch` serving every function, and one
//! event source mapping per function queue.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::SdkConfig;
use checkout_tests::{Options, Platform, PspFunction};
use events::Envelope;
use events::Money;
use events::payloads::{Contact, OrderConfirmed};
use function_kit::local::EventSourceMapping;
use function_kit::topology::{Created, Topology, ensure};
use serde_json::{Value, json};
use service_kit::testing::TcpProxy;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Polls `check` every 250 ms until it answers, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Where the notifier's account links point in these tests.
pub const ACCOUNT_LINKS: &str = "https://shop.test/account";

/// An `order.confirmed` event as orders writes it, for a customer who wants email only.
pub fn confirmed_event(order: &str) -> String {
    let envelope = Envelope::new(
        "/orders",
        order,
        None,
        OrderConfirmed {
            order_id: order.to_owned(),
            customer_id: "c-1".into(),
            total: Money::parse(1200, "EUR").unwrap(),
            contact: Contact {
                email: format!("{order}@example.com"),
                phone: None,
                name: "Ada".into(),
                locale: "en-GB".into(),
                notify_email: true,
                notify_sms: false,
            },
        },
    );
    String::from_utf8(envelope.to_json().unwrap()).unwrap()
}

/// An admin's access token, through the gateway's public sign-up and sign-in.
pub async fn admin_token_for(platform: &Platform) -> String {
    let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct horse battery staple";
    let registered = platform
        .client
        .post(format!("{}/api/v1/auth/register", platform.gateway))
        .json(&json!({"email": email, "password": password, "name": "Admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    sqlx::query("update users set roles = '{admin,shopper}' where email = $1")
        .bind(&email)
        .execute(&platform.users_db)
        .await
        .unwrap();
    let tokens: Value = platform
        .client
        .post(format!("{}/api/v1/auth/login", platform.gateway))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The target directory this test was built in (so `cargo lambda watch` reuses the build).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // <target>/debug/deps/<test binary>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// `cargo-lambda`: `CARGO_LAMBDA` (set by `cargo xtask test`), else from `PATH`.
fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("CARGO_LAMBDA")
        .map_or_else(|| PathBuf::from("cargo-lambda"), PathBuf::from);
    let found = Command::new(&path)
        .args(["lambda", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "cargo-lambda not found: run the tests with `cargo xtask test`, which installs it and sets CARGO_LAMBDA"
    );
    path
}

/// A running serverless chain.
pub struct Chain {
    /// The services.
    pub platform: Platform,
    /// AWS as the test sees it (moto, never through the proxy).
    pub aws: SdkConfig,
    /// The topology's names.
    pub created: Created,
    /// The proxy between the chain and moto, when asked for.
    pub moto_proxy: Option<TcpProxy>,
    /// `cargo lambda watch` (function URLs under `/lambda-url/<function>/`).
    pub lambda: String,
    /// The provider's callback signing secret.
    pub psp_secret: String,
    watch: WatchGuard,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    bridge: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
    _env_dir: tempdir::Dir,
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Chain {
    /// Starts everything; `proxied` puts a proxy between the chain and moto; `tweak` adjusts
    /// the topology before it is created.
    pub async fn start(proxied: bool, tweak: impl FnOnce(&mut Topology)) -> Self {
        Box::pin(Self::start_inner(proxied, tweak)).await
    }

    async fn start_inner(proxied: bool, tweak: impl FnOnce(&mut Topology)) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("s{}-", &id[..12]);
        let moto = function_kit::aws::test_endpoint();
        let aws = function_kit::aws::for_endpoint(&moto).await;
        let mut topology = Topology::committed().unwrap();
        tweak(&mut topology);
        let created = ensure(&aws, &topology, &prefix).await.unwrap();
        let moto_proxy = if proxied {
            let target = moto
                .trim_start_matches("http://")
                .parse()
                .expect("moto endpoint as host:port");
            Some(TcpProxy::start(target).await)
        } else {
            None
        };
        let endpoint = moto_proxy
            .as_ref()
            .map_or_else(|| moto.clone(), |p| format!("http://{}", p.addr()));
        let chain_aws = function_kit::aws::for_endpoint(&endpoint).await;

        // The functions, each invoked as in AWS.
        let port = service_kit::testing::server_port();
        let lambda = format!("http://127.0.0.1:{port}");
        let env_dir = std::env::temp_dir().join(format!("serverless-{id}"));
        std::fs::create_dir_all(&env_dir).unwrap();
        let env_file = env_dir.join("functions.env");
        let env = [
            format!("AWS_ENDPOINT_URL={endpoint}"),
            "AWS_ACCESS_KEY_ID=test".into(),
            "AWS_SECRET_ACCESS_KEY=test".into(),
            "AWS_REGION=us-east-1".into(),
            format!(
                "IDEMPOTENCY_TABLE={}",
                created.tables["notifier-idempotency"]
            ),
            format!("EMAIL_FROM={}", topology.ses_sender),
            "METRICS_NAMESPACE=Retail/Test".into(),
            format!(
                "SUBSCRIPTIONS_TABLE={}",
                created.tables["webhook-subscriptions"]
            ),
            format!("DELIVERIES_TABLE={}", created.tables["webhook-deliveries"]),
            format!("WEBHOOK_SECRET_PREFIX={prefix}webhooks/"),
            "ALLOW_PRIVATE_ENDPOINTS=true".into(),
            format!("PSP_WEBHOOK_SECRET_ARN={prefix}psp/signing-secret"),
            format!(
                "PSP_CALLBACKS_QUEUE_URL={}",
                created.queue_urls["payments-psp-callbacks"]
            ),
            format!("REPLAY_TABLE={}", created.tables["psp-callbacks-seen"]),
            format!("ACCOUNT_TOKEN_KEY_SECRET_ARN={prefix}users/account-token-key"),
            format!("ACCOUNT_LINK_BASE_URL={ACCOUNT_LINKS}"),
            "RUST_LOG=info".into(),
        ];
        std::fs::write(&env_file, env.join("\n") + "\n").unwrap();
        // The provider's signing secret, which psp-webhook reads at start-up.
        let psp_secret = format!("psp-secret-{id}");
        aws_sdk_secretsmanager::Client::new(&aws)
            .create_secret()
            .name(format!("{prefix}psp/signing-secret"))
            .secret_string(&psp_secret)
            .send()
            .await
            .unwrap();
        // The account token key, shared by users (seals) and the notifier (opens).
        let account_key = events::sealed::SealKey::generate().unwrap();
        aws_sdk_secretsmanager::Client::new(&aws)
            .create_secret()
            .name(format!("{prefix}users/account-token-key"))
            .secret_string(&account_key)
            .send()
            .await
            .unwrap();
        let bin = cargo_lambda();
        let mut path = std::env::var("PATH").unwrap_or_default();
        if let Some(dir) = bin.parent().filter(|d| !d.as_os_str().is_empty()) {
            path = format!("{}:{path}", dir.display());
        }
        let log = std::fs::File::create(env_dir.join("lambda.log")).unwrap();
        let watch = {
            use std::os::unix::process::CommandExt as _;
            Command::new(&bin)
                .args([
                    "lambda",
                    "watch",
                    "--ignore-changes",
                    "-A",
                    "127.0.0.1",
                    "-P",
                    &port.to_string(),
                ])
                .arg("--env-file")
                .arg(&env_file)
                .env("PATH", path)
                .env("CARGO_TARGET_DIR", target_dir())
                .current_dir(workspace())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        eventually(Duration::from_secs(60), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;

        // Warm every function up: the first invocation may build it, which would make the
        // gateway's calls and the mappings' first batches time out.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap();
        let no_signature = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/",
            "rawQueryString": "", "headers": {},
            "requestContext": {"http": {"method": "POST", "path": "/"}, "stage": "$default"},
            "body": "{}", "isBase64Encoded": false
        });
        for (function, payload) in [
            ("psp-webhook", no_signature),
            ("notifier", json!({"Records": []})),
            ("webhook-dispatcher", json!({"Records": []})),
            ("analytics", json!({"Records": []})),
            (
                "webhook-admin",
                json!({
                    "version": "2.0", "routeKey": "$default", "rawPath": "/admin/webhooks",
                    "rawQueryString": "", "headers": {},
                    "requestContext": {"http": {"method": "GET", "path": "/admin/webhooks"}, "stage": "$default"},
                    "isBase64Encoded": false
                }),
            ),
        ] {
            let answer = http
                .post(format!(
                    "{lambda}/2015-03-31/functions/{function}/invocations"
                ))
                .json(&payload)
                .send()
                .await
                .unwrap();
            assert!(
                answer.status().is_success(),
                "warming {function}: {}",
                answer.status()
            );
        }

        let platform = Platform::start(Options {
            lambda_endpoint: Some(lambda.clone()),
            psp_function: Some(PspFunction {
                callback_url: format!("{lambda}/lambda-url/psp-webhook/"),
                queue_url: created.queue_urls["payments-psp-callbacks"].clone(),
                secret: psp_secret.clone(),
            }),
            account_token_key: Some(account_key),
            ..Options::default()
        })
        .await;

        // The bridge, on the platform's exchange, publishing to the test's topic.
        let mut s = bridge::config::Settings::load().unwrap();
        s.http.port = 0;
        s.amqp.url = platform.amqp_url.clone().into();
        s.amqp.exchange.clone_from(&platform.exchange);
        s.amqp.queue = format!("test.bridge.{id}");
        s.sns.topic_arn.clone_from(&created.topic_arn);
        s.sns.max_backoff_ms = 2_000;
        let app = bridge::Application::build_with(s, &chain_aws)
            .await
            .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));

        // The event source mappings.
        let (stop, stop_rx) = watch::channel(false);
        let sqs = aws_sdk_sqs::Client::new(&chain_aws);
        let mut tasks = Vec::new();
        for queue in &topology.queues {
            let mapping = EventSourceMapping {
                sqs: sqs.clone(),
                queue_url: created.queue_urls[&queue.name].clone(),
                queue_arn: format!("arn:aws:sqs:us-east-1:123456789012:{prefix}{}", queue.name),
                invoke_url: format!(
                    "{lambda}/2015-03-31/functions/{}/invocations",
                    queue.function
                ),
                batch_size: 10,
                // The first invocation may build the function.
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(600))
                    .build()
                    .unwrap(),
            };
            tasks.push(tokio::spawn(mapping.run(stop_rx.clone())));
        }
        Self {
            platform,
            aws,
            created,
            moto_proxy,
            lambda,
            psp_secret,
            watch: WatchGuard(watch),
            stop,
            tasks,
            bridge: Some((tx, server)),
            _env_dir: tempdir::Dir(env_dir),
        }
    }

    /// An admin's access token.
    pub async fn admin_token(&self) -> String {
        admin_token_for(&self.platform).await
    }

    /// Emails and SMS moto recorded that mention `needle` (an order id).
    pub async fn sent(&self, needle: &str) -> (Vec<Value>, Vec<Value>) {
        // moto renders its state while other requests change it, and now and then answers
        // with an error page instead of JSON: read again.
        let url = format!("{}/moto-api/data.json", function_kit::aws::test_endpoint());
        let data: Value = eventually(Duration::from_secs(10), || async {
            reqwest::get(&url).await.ok()?.json::<Value>().await.ok()
        })
        .await;
        let matching = |list: &Value| -> Vec<Value> {
            list.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.to_string().contains(needle))
                .collect()
        };
        (
            matching(&data["ses"]["Message"]),
            matching(&data["sns"]["SMS"]),
        )
    }

    /// Messages in a function's queue: visible, in flight and delayed.
    async fn depth(&self, queue: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let attributes = aws_sdk_sqs::Client::new(&self.aws)
            .get_queue_attributes()
            .queue_url(&self.created.queue_urls[queue])
            .attribute_names(Name::All)
            .send()
            .await
            .unwrap();
        [
            Name::ApproximateNumberOfMessages,
            Name::ApproximateNumberOfMessagesNotVisible,
            Name::ApproximateNumberOfMessagesDelayed,
        ]
        .into_iter()
        .map(|name| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum()
    }

    /// Waits until a function's queue has stayed empty (nothing visible, in flight or delayed)
    /// for two seconds.
    pub async fn drained(&self, queue: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut empty_since: Option<tokio::time::Instant> = None;
        loop {
            let now = tokio::time::Instant::now();
            if self.depth(queue).await == 0 {
                let since = *empty_since.get_or_insert(now);
                if now - since >= Duration::from_secs(2) {
                    return;
                }
            } else {
                empty_since = None;
            }
            assert!(now < deadline, "{queue} did not drain within {within:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Stops everything and deletes the test's queues and exchange.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some((tx, server)) = self.bridge.take() {
            let _ = tx.send(());
            let _ = server.await;
        }
        self.watch.kill();
        self.platform.stop().await;
    }
}

/// `cargo lambda watch`, stopped with its function processes when dropped.
struct WatchGuard(Child);

/// Every process below `pid` (from `/proc`).
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid ...
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

impl WatchGuard {
    /// Kills cargo lambda and everything it started (functions, cargo), without waiting long.
    fn kill(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.0.id();
        let mut all = descendants(pid);
        all.push(pid);
        for p in all {
            let _ = Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .status();
        }
        let _ = self.0.wait();
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
