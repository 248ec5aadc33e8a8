//! The transactional outbox: producers [`enqueue`] events in the transaction of their state
//! change; the [`Relay`] publishes them with publisher confirms and marks them sent.

use std::time::Duration;

use events::Envelope;
use lapin::Channel;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use super::topology::declare_exchange;
use super::{
    AGGREGATE_HEADER, MessagingError, MessagingMetrics, connect, header_table, publish_confirmed,
};

/// The outbox and idempotency tables every producing or consuming service has; created at
/// start-up (idempotent DDL), so services share one definition.
pub const SCHEMA: &str = "
create table if not exists outbox (
    seq           bigserial primary key,
    id            text not null unique,
    aggregate_id  text not null,
    event_type    text not null,
    payload       bytea not null,
    headers       jsonb not null,
    created_at    timestamptz not null default now(),
    published_at  timestamptz
);
create index if not exists outbox_pending_idx on outbox (seq) where published_at is null;
create table if not exists processed_events (
    consumer      text not null,
    event_id      text not null,
    processed_at  timestamptz not null default now(),
    primary key (consumer, event_id)
);
";

/// Creates the outbox and processed-events tables if missing.
pub async fn ensure_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await.map(|_| ())
}

/// Writes an event to the outbox inside the caller's transaction. An event without a
/// `traceparent` gets the current span's, so the trace continues through the broker.
pub async fn enqueue<T: Serialize>(
    tx: &mut PgConnection,
    envelope: &Envelope<T>,
    aggregate_id: &str,
) -> Result<(), MessagingError> {
    let rejected = |e: serde_json::Error| MessagingError::Rejected(e.to_string());
    let mut headers: serde_json::Map<String, serde_json::Value> = envelope
        .amqp_headers()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let payload = match (
        &envelope.traceparent,
        crate::telemetry::current_traceparent(),
    ) {
        (None, Some(traceparent)) => {
            let mut value = serde_json::to_value(envelope).map_err(rejected)?;
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("traceparent".into(), traceparent.clone().into());
            }
            headers.insert(
                format!("{}traceparent", events::AMQP_HEADER_PREFIX),
                traceparent.into(),
            );
            serde_json::to_vec(&value).map_err(rejected)?
        }
        _ => envelope.to_json().map_err(rejected)?,
    };
    sqlx::query(
        "insert into outbox (id, aggregate_id, event_type, payload, headers) values ($1, $2, $3, $4, $5)",
    )
    .bind(&envelope.id)
    .bind(aggregate_id)
    .bind(&envelope.event_type)
    .bind(payload)
    .bind(sqlx::types::Json(headers))
    .execute(tx)
    .await?;
    Ok(())
}

/// seq, id, aggregate id, event type, payload, CloudEvents headers.
type OutboxRow = (
    i64,
    String,
    String,
    String,
    Vec<u8>,
    sqlx::types::Json<serde_json::Map<String, serde_json::Value>>,
);

/// Publishes the outbox.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    uri: String,
    exchange: String,
    batch: i64,
    idle: Duration,
    metrics: Option<MessagingMetrics>,
}

impl Relay {
    /// A relay from `pool`'s outbox to `exchange` at `uri`.
    pub fn new(pool: PgPool, uri: &str, exchange: &str) -> Self {
        Self {
            pool,
            uri: uri.to_owned(),
            exchange: exchange.to_owned(),
            batch: 100,
            idle: Duration::from_millis(200),
            metrics: None,
        }
    }

    /// Reports outbox lag, publishes and failures to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: MessagingMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn observe(&self, published: usize, failed: bool) {
        let Some(metrics) = &self.metrics else { return };
        metrics
            .published
            .inc_by(u64::try_from(published).unwrap_or(0));
        if failed {
            metrics.publish_failures.inc();
        }
        let state: Result<(i64, f64), sqlx::Error> = sqlx::query_as(
            "select count(*), coalesce(extract(epoch from now() - min(created_at))::float8, 0) \
             from outbox where published_at is null",
        )
        .fetch_one(&self.pool)
        .await;
        if let Ok((pending, lag)) = state {
            metrics.outbox_pending.set(pending);
            metrics.outbox_lag.set(lag);
        }
    }

    /// Publishes pending rows in order; returns how many were confirmed. A message the broker
    /// refuses (unroutable, nacked) holds back the later events of its aggregate only, so one
    /// bad event cannot stall every order; a broken connection stops the batch.
    pub async fn publish_pending(&self, channel: &Channel) -> Result<usize, MessagingError> {
        let mut tx = self.pool.begin().await?;
        let leader: bool =
            sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('outbox-relay'))")
                .fetch_one(&mut *tx)
                .await?;
        if !leader {
            return Ok(0);
        }
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "select seq, id, aggregate_id, event_type, payload, headers from outbox \
             where published_at is null order by seq limit $1",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = Vec::with_capacity(rows.len());
        let mut held: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut failure = None;
        for (seq, id, aggregate, event_type, payload, headers) in rows {
            if held.contains(&aggregate) {
                continue;
            }
            let mut pairs: Vec<(String, String)> = headers
                .0
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect();
            pairs.push((AGGREGATE_HEADER.to_owned(), aggregate.clone()));
            match publish_confirmed(
                channel,
                &self.exchange,
                &event_type,
                &payload,
                header_table(&pairs),
                &id,
            )
            .await
            {
                Ok(()) => sent.push(seq),
                Err(MessagingError::Rejected(reason)) => {
                    tracing::error!(event = %id, aggregate = %aggregate, reason = %reason,
                        "relay: the broker refused an event; its aggregate waits for a fix");
                    held.insert(aggregate);
                    failure.get_or_insert(MessagingError::Rejected(reason));
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if !sent.is_empty() {
            sqlx::query("update outbox set published_at = now() where seq = any($1)")
                .bind(&sent)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.observe(sent.len(), failure.is_some()).await;
        match failure {
            Some(MessagingError::Rejected(_)) if !sent.is_empty() => Ok(sent.len()),
            Some(err) => Err(err),
            None => Ok(sent.len()),
        }
    }

    /// Publishes until `shutdown` turns true, reconnecting with backoff after broker failures.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            let channel = match connect(&self.uri).await {
                Ok((connection, channel)) => match declare_exchange(&channel, &self.exchange).await
                {
                    Ok(()) => Some((connection, channel)),
                    Err(err) => {
                        tracing::warn!(error = %err, "relay: cannot declare the exchange");
                        None
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "relay: broker unavailable");
                    None
                }
            };
            let Some((_connection, channel)) = channel else {
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            };
            backoff = Duration::from_millis(200);
            loop {
                match self.publish_pending(&channel).await {
                    Ok(n) if n > 0 => continue,
                    // Refused events wait; the connection is fine.
                    Ok(_) | Err(MessagingError::Rejected(_)) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "relay: publishing failed; reconnecting");
                        break;
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(self.idle) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
