//! Redis: a shared, reconnecting client with a key prefix and a hard time limit per command.
//!
//! Redis is an optimization in this platform: callers treat every [`CacheError`] as "not
//! cached" and fall back to PostgreSQL. The client connects lazily, so a service starts while
//! Redis is down and picks it up when it returns.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisError};
use secrecy::ExposeSecret;

use crate::config::RedisSettings;

/// Why a Redis call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// No answer within the command timeout.
    #[error("redis did not answer in time")]
    Timeout,
    /// The server or the connection failed.
    #[error("redis error: {0}")]
    Redis(#[from] RedisError),
}

/// A cheap-to-clone Redis client for one service.
#[derive(Clone)]
pub struct RedisClient {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: Arc<str>,
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Makes aws-lc-rs the process's TLS crypto provider (once). Several dependencies enable
/// rustls with different providers, and then rustls cannot choose by itself: a `rediss://`
/// connection would panic.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already; that is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

impl RedisClient {
    /// Creates the client without connecting; must be called inside a Tokio runtime.
    pub fn new(settings: &RedisSettings) -> anyhow::Result<Self> {
        install_crypto_provider();
        let client = redis::Client::open(settings.url.expose_secret())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(settings.command_timeout_ms)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            connection,
            prefix: settings.key_prefix.as_str().into(),
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
            command_timeout: Duration::from_millis(settings.command_timeout_ms),
        })
    }

    /// The prefix every key of this service starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `suffix` under this service's prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Runs one command within the time limit.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.command_timeout, cmd.query_async(&mut connection))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(CacheError::from)
    }

    /// Runs a pipeline within the time limit.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, CacheError> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.command_timeout, pipeline.query_async(&mut connection))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(CacheError::from)
    }

    /// Runs a Lua script (EVALSHA, loading it on first use) within the time limit.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, CacheError> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(
            self.command_timeout,
            invocation.invoke_async(&mut connection),
        )
        .await
        .map_err(|_| CacheError::Timeout)?
        .map_err(CacheError::from)
    }

    /// Subscribes to `channel` (a full name: no prefix is added) on a connection of its own,
    /// since a subscribed connection can run no other command. The stream ends when that
    /// connection drops; the caller subscribes again.
    pub async fn subscribe(&self, channel: &str) -> Result<redis::aio::PubSubStream, CacheError> {
        let mut pubsub = tokio::time::timeout(self.connect_timeout, self.client.get_async_pubsub())
            .await
            .map_err(|_| CacheError::Timeout)??;
        tokio::time::timeout(self.command_timeout, pubsub.subscribe(channel))
            .await
            .map_err(|_| CacheError::Timeout)??;
        Ok(pubsub.into_on_message())
    }

    /// Calls `on_change` for every message on `channel`, and also whenever the subscription
    /// is established, lost or re-established, since messages may have been missed around
    /// those moments: what a cache emptied by `on_change` needs. The first subscription is
    /// tried before this returns (within the connect and command timeouts), so what the caller
    /// stores afterwards is not emptied by it; a task then keeps the subscription, subscribing
    /// again with backoff while Redis is away.
    pub async fn follow(
        &self,
        channel: String,
        on_change: impl Fn() + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let first = self.subscribe(&channel).await;
        if first.is_ok() {
            on_change();
        }
        let redis = self.clone();
        tokio::spawn(async move {
            use futures::StreamExt as _;
            let mut attempt = Some(first);
            let mut delay = Duration::from_millis(100);
            loop {
                let subscribed = match attempt.take() {
                    Some(first) => first,
                    None => {
                        let again = redis.subscribe(&channel).await;
                        if again.is_ok() {
                            on_change();
                        }
                        again
                    }
                };
                match subscribed {
                    Ok(mut messages) => {
                        delay = Duration::from_millis(100);
                        while messages.next().await.is_some() {
                            on_change();
                        }
                        on_change();
                        tracing::warn!(channel, "subscription dropped; subscribing again");
                    }
                    Err(err) => {
                        tracing::warn!(channel, error = %err, "cannot subscribe");
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        })
    }

    /// Readiness probe.
    pub async fn ping(&self) -> Result<(), String> {
        self.query::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ElastiCache requires TLS (`rediss://`). Against a server that does not speak TLS the
    /// handshake must fail as an error (a readiness check reports it), never as a panic.
    #[tokio::test]
    async fn a_tls_url_is_accepted_and_a_failed_handshake_is_an_error() {
        let plain =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let settings = RedisSettings {
            url: plain.replacen("redis://", "rediss://", 1).into(),
            key_prefix: "tls-test:".into(),
            connect_timeout_ms: 500,
            command_timeout_ms: 500,
        };
        let client = RedisClient::new(&settings).expect("a rediss URL is supported");
        assert!(client.ping().await.is_err());
    }
}
