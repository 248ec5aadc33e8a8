//! Users settings.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, RedisSettings, TelemetrySettings,
};

/// The service name.
pub const SERVICE: &str = "users";
/// Local port (ARCHITECTURE.md, "Services").
pub const DEFAULT_PORT: u16 = 8085;

/// Everything users reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL (`users` database).
    pub database: DatabaseSettings,
    /// Redis (sessions, login throttling).
    pub redis: RedisSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Token issuing.
    pub jwt: JwtSettings,
    /// Sessions and throttling.
    pub auth: AuthSettings,
    /// RabbitMQ: account events leave through the outbox.
    pub amqp: AmqpSettings,
    /// Email verification and password reset.
    pub account: AccountSettings,
}

/// Account email settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountSettings {
    /// The key that seals verification and reset tokens for the notifier (32 bytes, standard
    /// base64; the notifier holds the same key). A key is generated at start-up when absent:
    /// local runs only, since the notifier then cannot open the links.
    #[serde(default)]
    pub token_key: Option<SecretString>,
    /// How long an email verification link works.
    pub verification_ttl_seconds: u64,
    /// How long a password reset link works.
    pub reset_ttl_seconds: u64,
    /// Account emails a requester can cause per account and window (reset links, "someone
    /// tried to register" notices, verification resends); more are dropped without telling
    /// the requester, so nobody can flood an inbox.
    pub mails_per_account: u32,
    /// The window of `mails_per_account`.
    pub mail_window_seconds: u64,
}

/// Token settings.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// `iss` of every token.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl_seconds: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl_seconds: u64,
    /// Signing keys as JSON (`[{"kid", "pkcs8", "retired_at"?}]`); a key is generated at
    /// start-up when absent (local runs only: tokens die with the process).
    #[serde(default)]
    pub signing_keys: Option<SecretString>,
}

/// Session and throttling settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Full Redis key prefix of sessions; the gateway reads the same keys.
    pub session_key_prefix: String,
    /// Idle lifetime of a session.
    pub session_idle_seconds: u64,
    /// Failed sign-ins by one client (address) against one account within the window, after
    /// which that client, and only that client, is refused for that account (429).
    pub max_failures_per_client: u32,
    /// Failed sign-ins by one client address, all accounts together, within the window, after
    /// which that address is refused (429).
    pub max_failures_per_ip: u32,
    /// Failed sign-ins against one account, from every client, within the window, after which
    /// each further wrong password for it is answered late (distributed guessing slows down).
    /// The owner is never refused for others' failures: a correct password is answered at once.
    pub account_slowdown_after: u32,
    /// The longest a wrong password's answer is held back (the delay doubles per failure past
    /// `account_slowdown_after`, from 250 ms, up to this). Keep it well under the gateway's
    /// upstream timeout for users (5 s), or a held answer becomes a 504.
    pub max_failure_delay_ms: u64,
    /// Throttling window.
    pub failure_window_seconds: u64,
    /// Proxies in front of the service that append to `X-Forwarded-For`: the gateway, so 1.
    /// The client address the throttle keys on is the entry this many from the right (what
    /// the gateway saw), never the client's own leftmost entry.
    pub trusted_proxy_hops: usize,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            builder
                .set_default("jwt.issuer", "http://127.0.0.1:8080")?
                .set_default("jwt.audience", "retail-platform")?
                .set_default("jwt.access_ttl_seconds", 900_i64)?
                .set_default("jwt.refresh_ttl_seconds", 2_592_000_i64)?
                .set_default(
                    "auth.session_key_prefix",
                    service_kit::identity::DEFAULT_SESSION_KEY_PREFIX,
                )?
                .set_default("auth.session_idle_seconds", 1800_i64)?
                .set_default("auth.max_failures_per_client", 5_i64)?
                .set_default("auth.max_failures_per_ip", 30_i64)?
                .set_default("auth.account_slowdown_after", 10_i64)?
                .set_default("auth.max_failure_delay_ms", 3000_i64)?
                .set_default("auth.failure_window_seconds", 900_i64)?
                .set_default("auth.trusted_proxy_hops", 1_i64)?
                .set_default("account.verification_ttl_seconds", 86_400_i64)?
                .set_default("account.reset_ttl_seconds", 1800_i64)?
                .set_default("account.mails_per_account", 3_i64)?
                .set_default("account.mail_window_seconds", 3600_i64)
                .and_then(|b| service_kit::config::amqp_defaults(b, SERVICE))
        })
    }
}
