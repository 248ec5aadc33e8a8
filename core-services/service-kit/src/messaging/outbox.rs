//! The transactional outbox: producers [`enqueue`] events in the transaction of their state
//! change; the [`Relay`] publishes them with publisher confirms and marks them sent.
//!
//! - **Wake-up on commit.** Every insert into `outbox` runs a statement trigger that does
//!   `NOTIFY outbox`; PostgreSQL delivers it when the writing transaction commits. The relay
//!   listens on a connection of its own and drains the outbox as soon as it hears one. A slow
//!   fallback poll (1 s by default) covers a notification lost while that connection was down.
//! - **One publisher per database.** The relay that holds the session advisory lock
//!   `outbox-relay` on its listening connection publishes; the others wait. The lock goes with
//!   the connection, so a relay that loses its connection stops publishing and reconnects.
//! - **Busy databases are drained in windows.** After a drain that sent something, the relay
//!   gathers commits for 2 ms before the next; a quiet database is drained at once.
//! - **A window of confirms in flight.** Each round sends up to `window` events, the oldest
//!   pending event of each aggregate, without waiting between them, then collects the broker's
//!   confirms; the confirmed rows are marked by the next round's query (marking and looking in
//!   one statement), or on their own 50 ms later when no commit came. No transaction stays open
//!   while the broker answers. Only one event per aggregate is in flight, so the events of an
//!   aggregate reach the broker in the order they were written, and an event the broker refuses
//!   (unroutable, nacked) holds back the later events of its own aggregate only.
//! - The pending count and lag gauges are refreshed on a timer, and published rows are pruned
//!   after a retention period, by the leading relay.

use std::collections::HashSet;
use std::time::Duration;

use events::Envelope;
use lapin::Channel;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::watch;

use super::topology::declare_exchange;
use super::{
    AGGREGATE_HEADER, MessagingError, MessagingMetrics, confirmed, connect, header_table, publish,
};

/// The channel the outbox trigger notifies on commit.
pub const NOTIFY_CHANNEL: &str = "outbox";
/// The outbox and idempotency tables every producing or consuming service has, and the trigger
/// that wakes the relay; created at start-up (idempotent DDL, serialized between replicas by an
/// advisory lock), so services share one definition.
pub const SCHEMA: &str = "
begin;
select pg_advisory_xact_lock(hashtext('service-kit-messaging-schema'));
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
create index if not exists outbox_published_idx on outbox (published_at) where published_at is not null;
create table if not exists processed_events (
    consumer      text not null,
    event_id      text not null,
    processed_at  timestamptz not null default now(),
    primary key (consumer, event_id)
);
create index if not exists processed_events_age_idx on processed_events (processed_at);
create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('outbox', '');
    return null;
end
$$;
drop trigger if exists outbox_notify on outbox;
create trigger outbox_notify after insert on outbox
    for each statement execute function outbox_notify();
commit;
";

/// Published outbox rows and processed event ids are kept this long (for audits and for
/// recognising late redeliveries), then pruned by the leading relay.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
const LEADER_LOCK: &str = "select pg_try_advisory_lock(hashtext('outbox-relay'))";
const LEADER_UNLOCK: &str = "select pg_advisory_unlock(hashtext('outbox-relay'))";
const OBSERVE_EVERY: Duration = Duration::from_secs(5);
/// After a drain that sent events, how long commits are gathered before the next one.
const COALESCE: Duration = Duration::from_millis(2);
/// How long confirmed rows wait for the next drain to mark them before they are marked alone.
const MARK_AFTER: Duration = Duration::from_millis(50);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows pruned per statement, so pruning never holds long locks.
const PRUNE_BATCH: i64 = 5000;

/// Creates the outbox and processed-events tables and the outbox trigger if missing.
pub async fn ensure_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await.map(|_| ())
}

/// What caused an event a service emits: the flow it belongs to (its correlation id) and the
/// event that led to it, if any (its causation id).
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    /// Correlation id of the flow (the aggregate's id for flows started here).
    pub correlation_id: &'a str,
    /// The event that caused this one, if any.
    pub event_id: Option<&'a str>,
}

impl<'a> Cause<'a> {
    /// The cause of what handling `received` emits.
    pub fn of(received: &'a super::Received) -> Self {
        Self {
            correlation_id: &received.attributes.correlationid,
            event_id: Some(&received.attributes.id),
        }
    }
}

/// Wraps `data` in an envelope from `source` with `cause`'s correlation and causation, and
/// [`enqueue`]s it for `aggregate_id`. An outbox failure is a [`sqlx::Error`], so it fails
/// the transaction's other statements' caller the same way.
pub async fn enqueue_caused<T: events::Event + Serialize>(
    tx: &mut PgConnection,
    source: &str,
    cause: Cause<'_>,
    aggregate_id: &str,
    data: T,
) -> Result<(), sqlx::Error> {
    let envelope = Envelope::new(source, cause.correlation_id, cause.event_id, data);
    enqueue(tx, &envelope, aggregate_id)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))
}

/// Writes an event to the outbox inside the caller's transaction. An event without a
/// `traceparent` gets the current span's, so the trace continues through the broker. The
/// insert signals the relay in the same transaction (the outbox's statement trigger runs
/// `NOTIFY outbox`, delivered when the transaction commits), so the event leaves at once.
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
    uri: SecretString,
    exchange: String,
    window: i64,
    poll: Duration,
    metrics: Option<MessagingMetrics>,
}

impl Relay {
    /// A relay from `pool`'s outbox to `exchange` at `uri`: 256 events in flight, a fallback
    /// poll every second.
    pub fn new(pool: PgPool, uri: &str, exchange: &str) -> Self {
        Self {
            pool,
            uri: SecretString::from(uri),
            exchange: exchange.to_owned(),
            window: 256,
            poll: Duration::from_secs(1),
            metrics: None,
        }
    }

    /// Reports outbox lag, publishes and failures to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: MessagingMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How often the outbox is looked at when no commit signalled it (the fallback for a
    /// missed notification; the wake-up on commit does not wait for it).
    #[must_use]
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// Most events sent before waiting for their confirms.
    #[must_use]
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = i64::try_from(window.max(1)).unwrap_or(i64::MAX);
        self
    }

    /// Refreshes the pending and lag gauges (one query; on a timer, never per publish).
    async fn observe(&self) {
        let Some(metrics) = &self.metrics else { return };
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

    /// Deletes published rows and processed event ids older than [`RETENTION`], in batches.
    async fn prune(&self) {
        let seconds = RETENTION.as_secs_f64();
        for statement in [
            "delete from outbox where seq in (select seq from outbox \
             where published_at < now() - make_interval(secs => $1) limit $2)",
            "delete from processed_events where ctid in (select ctid from processed_events \
             where processed_at < now() - make_interval(secs => $1) limit $2)",
        ] {
            loop {
                let deleted = sqlx::query(statement)
                    .bind(seconds)
                    .bind(PRUNE_BATCH)
                    .execute(&self.pool)
                    .await;
                match deleted {
                    Ok(done) if done.rows_affected() == u64::try_from(PRUNE_BATCH).unwrap_or(0) => {
                    }
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "relay: pruning old outbox rows failed");
                        break;
                    }
                }
            }
        }
    }

    /// Publishes every pending event, unless another relay of this database is publishing
    /// (then 0); returns how many the broker confirmed. An event the broker refuses holds back
    /// the later events of its aggregate only; when nothing else could be sent, the refusal is
    /// the error. A broken connection stops the run.
    pub async fn publish_pending(&self, channel: &Channel) -> Result<usize, MessagingError> {
        let mut conn = self.pool.acquire().await?;
        let leader: bool = sqlx::query_scalar(LEADER_LOCK)
            .fetch_one(&mut *conn)
            .await?;
        if !leader {
            return Ok(0);
        }
        let mut unmarked = Vec::new();
        let mut result = self.drain(&mut *conn, channel, &mut unmarked).await;
        if let Err(err) = Self::mark(&mut *conn, &mut unmarked).await
            && result.is_ok()
        {
            result = Err(err.into());
        }
        if sqlx::query_scalar::<_, bool>(LEADER_UNLOCK)
            .fetch_one(&mut *conn)
            .await
            .is_err()
        {
            // A connection that cannot unlock must not go back to the pool holding the lock.
            conn.close_on_drop();
        }
        self.observe().await;
        result
    }

    /// Sends the pending events in windows until none is left; the caller leads. Confirmed
    /// rows are marked sent by the next window's query (one statement: the marking and the
    /// next look); those of the last window stay in `unmarked` for the caller to mark
    /// ([`Relay::mark`]), or for the next drain to fold in.
    async fn drain<C>(
        &self,
        conn: &mut C,
        channel: &Channel,
        unmarked: &mut Vec<i64>,
    ) -> Result<usize, MessagingError>
    where
        for<'c> &'c mut C: sqlx::Executor<'c, Database = Postgres>,
    {
        let mut held: Vec<String> = Vec::new();
        let mut total = 0;
        let mut refused = None;
        loop {
            // The marking and the look share a snapshot, so the rows just marked are left out
            // of the look by their numbers.
            let rows: Vec<OutboxRow> = sqlx::query_as(
                "with marked as (update outbox set published_at = now() where seq = any($3)) \
                 select seq, id, aggregate_id, event_type, payload, headers from outbox \
                 where published_at is null and seq <> all($3) and aggregate_id <> all($2) \
                 order by seq limit $1",
            )
            .bind(self.window)
            .bind(&held)
            .bind(&*unmarked)
            .fetch_all(&mut *conn)
            .await?;
            unmarked.clear();
            if rows.is_empty() {
                break;
            }
            // A short window with one event per aggregate was everything pending: no need to
            // look again (a later commit signals again).
            let mut last = i64::try_from(rows.len()).unwrap_or(i64::MAX) < self.window;
            let mut aggregates = HashSet::with_capacity(rows.len());
            let mut in_flight = Vec::with_capacity(rows.len());
            let mut broken = None;
            for (seq, id, aggregate, event_type, payload, headers) in rows {
                // The oldest pending event of each aggregate only: the next one goes out after
                // this one is confirmed.
                if !aggregates.insert(aggregate.clone()) {
                    last = false;
                    continue;
                }
                let mut pairs: Vec<(String, String)> = headers
                    .0
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                pairs.push((AGGREGATE_HEADER.to_owned(), aggregate.clone()));
                let sent = publish(
                    channel,
                    &self.exchange,
                    &event_type,
                    &payload,
                    header_table(&pairs),
                    &id,
                )
                .await;
                match sent {
                    Ok(confirm) => in_flight.push((seq, id, aggregate, event_type, confirm)),
                    Err(err) => {
                        broken = Some(err);
                        break;
                    }
                }
            }
            let mut sent = Vec::with_capacity(in_flight.len());
            for (seq, id, aggregate, event_type, confirm) in in_flight {
                if broken.is_some() {
                    break;
                }
                match confirmed(confirm, &event_type).await {
                    Ok(()) => sent.push(seq),
                    Err(MessagingError::Rejected(reason)) => {
                        tracing::error!(event = %id, aggregate = %aggregate, reason = %reason,
                            "relay: the broker refused an event; its aggregate waits for a fix");
                        last = false;
                        held.push(aggregate);
                        refused.get_or_insert(MessagingError::Rejected(reason));
                    }
                    Err(err) => broken = Some(err),
                }
            }
            if !sent.is_empty() {
                total += sent.len();
                if let Some(metrics) = &self.metrics {
                    metrics
                        .published
                        .inc_by(u64::try_from(sent.len()).unwrap_or(0));
                }
                unmarked.extend(sent);
            }
            if let Some(err) = broken {
                self.count_failure();
                return Err(err);
            }
            if last {
                break;
            }
        }
        match refused {
            Some(err) => {
                self.count_failure();
                if total == 0 { Err(err) } else { Ok(total) }
            }
            None => Ok(total),
        }
    }

    /// Marks confirmed rows sent.
    async fn mark<C>(conn: &mut C, unmarked: &mut Vec<i64>) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut C: sqlx::Executor<'c, Database = Postgres>,
    {
        if unmarked.is_empty() {
            return Ok(());
        }
        sqlx::query("update outbox set published_at = now() where seq = any($1)")
            .bind(&*unmarked)
            .execute(&mut *conn)
            .await?;
        unmarked.clear();
        Ok(())
    }

    fn count_failure(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.publish_failures.inc();
        }
    }

    /// A connection of the relay's own (not one of the pool's), listening for commits.
    async fn listener(&self) -> Result<PgListener, sqlx::Error> {
        let options = (*self.pool.connect_options()).clone();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await?;
        // A lost connection must surface (it took the leader lock with it), not be hidden.
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener.listen(NOTIFY_CHANNEL).await?;
        // Marking rows sent need not wait for the disk: a mark lost in a crash only sends the
        // event again, which consumers recognise.
        sqlx::query("set synchronous_commit = off")
            .execute(&mut listener)
            .await?;
        Ok(listener)
    }

    /// Publishes until `shutdown` turns true, reconnecting with backoff after database or
    /// broker failures; on shutdown, sends what is pending once more.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            match self.lead(&mut shutdown, &mut backoff).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "relay: failure; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Waits to lead, then publishes on every commit signal and every fallback poll.
    async fn lead(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Result<(), MessagingError> {
        let mut listener = self.listener().await?;
        loop {
            let leader: bool = sqlx::query_scalar(LEADER_LOCK)
                .fetch_one(&mut listener)
                .await?;
            if leader {
                break;
            }
            // Another replica publishes; take over if it goes away. Signals meanwhile are
            // read and dropped, so they do not pile up in memory.
            let retry = tokio::time::sleep(self.poll);
            tokio::pin!(retry);
            loop {
                tokio::select! {
                    signal = listener.try_recv() => {
                        if signal?.is_none() {
                            return Err(lost_connection());
                        }
                        while listener.next_buffered().is_some() {}
                    }
                    () = &mut retry => break,
                    _ = shutdown.changed() => return Ok(()),
                }
            }
            if *shutdown.borrow() {
                return Ok(());
            }
        }
        let (_connection, channel) = connect(self.uri.expose_secret()).await?;
        declare_exchange(&channel, &self.exchange).await?;
        *backoff = Duration::from_millis(200);
        let mut observe = tokio::time::interval(OBSERVE_EVERY);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        let mut busy_until = tokio::time::Instant::now();
        let mut unmarked = Vec::new();
        loop {
            // Right after a drain that found work, commits are coming fast: gather them for a
            // moment, so a busy database is drained in windows rather than one event a time.
            // A quiet database is drained at once.
            tokio::time::sleep_until(busy_until).await;
            match self.drain(&mut listener, &channel, &mut unmarked).await {
                Ok(sent) if sent > 0 => busy_until = tokio::time::Instant::now() + COALESCE,
                // Refused events wait; the connections are fine.
                Ok(_) | Err(MessagingError::Rejected(_)) => {}
                Err(err) => {
                    // What was confirmed before the failure need not go out again.
                    let _ = Self::mark(&mut listener, &mut unmarked).await;
                    return Err(err);
                }
            }
            // Marked with the next drain's look when commits keep coming, else on their own.
            let mark_at = tokio::time::Instant::now() + MARK_AFTER;
            let poll_at = tokio::time::Instant::now() + self.poll;
            let stop = loop {
                tokio::select! {
                    () = tokio::time::sleep_until(mark_at), if !unmarked.is_empty() => {
                        Self::mark(&mut listener, &mut unmarked).await?;
                    }
                    signal = listener.try_recv() => {
                        if signal?.is_none() {
                            return Err(lost_connection());
                        }
                        // One drain answers every commit signalled so far.
                        while listener.next_buffered().is_some() {}
                        break false;
                    }
                    () = tokio::time::sleep_until(poll_at) => break false,
                    _ = observe.tick() => self.observe().await,
                    _ = prune.tick() => self.prune().await,
                    _ = shutdown.changed() => break true,
                }
            };
            if stop || *shutdown.borrow() {
                // What was committed before the stop still leaves.
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    let _ = self.drain(&mut listener, &channel, &mut unmarked).await;
                    Self::mark(&mut listener, &mut unmarked).await
                })
                .await;
                return Ok(());
            }
        }
    }
}

fn lost_connection() -> MessagingError {
    MessagingError::Database(sqlx::Error::Protocol(
        "the relay's database connection was lost".into(),
    ))
}
