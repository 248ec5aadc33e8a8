//! Outbox, relay and consumer against the real RabbitMQ and PostgreSQL, each test with its own
//! database, exchange and queues.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use events::Envelope;
use events::payloads::StockLow;
use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use service_kit::messaging::{
    self, Consumer, Handler, HandlerError, Received, Relay, Topology, enqueue, ensure_schema,
};
use service_kit::testing::{TcpProxy, TestDatabase, amqp_url};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

/// Records each event's SKU; refuses SKUs starting with POISON (retryable, until a row in
/// `fixes` names the SKU) or FATAL (permanent).
struct RecordStock;

impl Handler for RecordStock {
    async fn handle(&self, tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        let envelope = Envelope::<StockLow>::parse(&event.body)
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let fixed: bool = sqlx::query_scalar("select exists(select 1 from fixes where sku = $1)")
            .bind(&envelope.data.sku)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| HandlerError::Retryable(e.to_string()))?;
        if envelope.data.sku.starts_with("POISON") && !fixed {
            return Err(HandlerError::Retryable(format!(
                "cannot handle {} yet",
                envelope.data.sku
            )));
        }
        if envelope.data.sku.starts_with("FATAL") {
            return Err(HandlerError::Permanent("never".into()));
        }
        sqlx::query("insert into effects (sku) values ($1)")
            .bind(&envelope.data.sku)
            .execute(tx)
            .await
            .map_err(|e| HandlerError::Retryable(e.to_string()))?;
        Ok(())
    }
}

struct Fixture {
    pool: PgPool,
    topology: Topology,
    channel: lapin::Channel,
    _connection: lapin::Connection,
    stop: watch::Sender<bool>,
    metrics: service_kit::metrics::Metrics,
    messaging_metrics: messaging::MessagingMetrics,
    /// Between the consumer and PostgreSQL, when the test asked for one.
    db_link: Option<TcpProxy>,
    _db: TestDatabase,
}

impl Fixture {
    async fn new() -> Self {
        Self::build(false).await
    }

    /// With `db_link`, the consumer reaches its database through a proxy the test can take
    /// down, with a pool that gives up on a connection after 300 ms.
    async fn build(db_link: bool) -> Self {
        let db = TestDatabase::create("messaging_test").await;
        let pool = PgPool::connect(&db.url).await.unwrap();
        ensure_schema(&pool).await.unwrap();
        sqlx::query("create table fixes (sku text primary key)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("create table effects (id bigserial primary key, sku text not null)")
            .execute(&pool)
            .await
            .unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let topology = Topology {
            exchange: format!("test.events.{id}"),
            queue: format!("test.stock.{id}"),
            bindings: vec!["stock.low".into()],
            retry_delays: vec![Duration::from_millis(100), Duration::from_millis(200)],
        };
        let (connection, channel) = messaging::connect(&amqp_url()).await.unwrap();
        topology.declare(&channel).await.unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let metrics = service_kit::metrics::Metrics::new("messaging-test").unwrap();
        let messaging_metrics = messaging::MessagingMetrics::new(&metrics).unwrap();
        let consumer = Consumer {
            name: "test-consumer".into(),
            topology: topology.clone(),
            prefetch: 1,
            metrics: Some(messaging_metrics.clone()),
        };
        let options: PgConnectOptions = db.url.parse().unwrap();
        let db_link = if db_link {
            let server = tokio::net::lookup_host((options.get_host(), options.get_port()))
                .await
                .unwrap()
                .next()
                .unwrap();
            Some(TcpProxy::start(server).await)
        } else {
            None
        };
        let consumer_pool = match &db_link {
            None => pool.clone(),
            Some(proxy) => PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_millis(300))
                .connect_lazy_with(options.host("127.0.0.1").port(proxy.addr().port())),
        };
        tokio::spawn(consumer.run(consumer_pool, amqp_url(), RecordStock, stop_rx));
        Self {
            pool,
            topology,
            channel,
            _connection: connection,
            stop,
            metrics,
            messaging_metrics,
            db_link,
            _db: db,
        }
    }

    fn relay(&self) -> Relay {
        Relay::new(self.pool.clone(), &amqp_url(), &self.topology.exchange)
            .with_metrics(self.messaging_metrics.clone())
    }

    /// The value of a metric line in the rendered registry, e.g.
    /// `messaging_events_consumed_total{outcome="retried"`.
    fn metric(&self, prefix: &str) -> Option<f64> {
        self.metrics
            .render()
            .lines()
            .find(|l| l.starts_with(prefix) || l.contains(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    async fn emit(&self, sku: &str) -> String {
        let event = Envelope::new(
            "/inventory",
            sku,
            None,
            StockLow {
                sku: sku.into(),
                available: 1,
                threshold: 5,
            },
        );
        let mut tx = self.pool.begin().await.unwrap();
        enqueue(&mut tx, &event, sku).await.unwrap();
        tx.commit().await.unwrap();
        event.id
    }

    async fn effects(&self) -> Vec<String> {
        sqlx::query_scalar("select sku from effects order by id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    async fn wait_for_effects(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let effects = self.effects().await;
            if effects.len() >= n {
                return effects;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} effects, have {:?}", self.effects().await);
    }

    async fn dead_letter(&self) -> Option<lapin::message::BasicGetMessage> {
        for _ in 0..100 {
            if let Some(message) = self
                .channel
                .basic_get(self.topology.dlq().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
            {
                return Some(message);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    async fn cleanup(self) {
        let _ = self.stop.send(true);
        let mut queues = vec![self.topology.queue.clone(), self.topology.dlq()];
        queues.extend(
            self.topology
                .retry_delays
                .iter()
                .map(|d| self.topology.retry_queue(*d)),
        );
        for queue in queues {
            let _ = self
                .channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self
            .channel
            .exchange_delete(
                self.topology.exchange.clone().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }
}

fn error_header(message: &lapin::message::BasicGetMessage) -> String {
    let headers = message
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    match headers.inner().get("x-error") {
        Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("no x-error header: {other:?}"),
    }
}

#[tokio::test]
async fn outbox_events_are_published_in_order_and_consumed_once_even_when_delivered_twice() {
    let fixture = Fixture::new().await;
    for sku in ["A-1", "A-2", "A-3"] {
        fixture.emit(sku).await;
    }
    assert_eq!(
        fixture
            .relay()
            .publish_pending(&fixture.channel)
            .await
            .unwrap(),
        3
    );
    assert_eq!(fixture.wait_for_effects(3).await, ["A-1", "A-2", "A-3"]);
    let pending: i64 = sqlx::query_scalar("select count(*) from outbox where published_at is null")
        .fetch_one(&fixture.pool)
        .await
        .unwrap();
    assert_eq!(
        pending, 0,
        "rows are marked sent after the broker confirmed them"
    );

    // The relay died after publishing A-2 but before marking it: it goes out again.
    sqlx::query("update outbox set published_at = null where aggregate_id = 'A-2'")
        .execute(&fixture.pool)
        .await
        .unwrap();
    fixture.emit("A-4").await;
    assert_eq!(
        fixture
            .relay()
            .publish_pending(&fixture.channel)
            .await
            .unwrap(),
        2
    );
    // A-4 was queued behind the duplicate; once it is applied, the duplicate was seen too.
    assert_eq!(
        fixture.wait_for_effects(4).await,
        ["A-1", "A-2", "A-3", "A-4"]
    );
    let processed: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&fixture.pool)
        .await
        .unwrap();
    assert_eq!(processed, 4);
    assert_eq!(fixture.metric("messaging_outbox_pending{"), Some(0.0));
    assert!(
        fixture
            .metric("messaging_outbox_published_total{")
            .unwrap_or(0.0)
            >= 1.0
    );
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_poison_message_reaches_the_dlq_after_its_retries_while_others_keep_flowing() {
    let fixture = Fixture::new().await;
    fixture.emit("POISON-1").await;
    fixture.emit("B-1").await;
    fixture.emit("FATAL-1").await;
    fixture.emit("B-2").await;
    fixture
        .relay()
        .publish_pending(&fixture.channel)
        .await
        .unwrap();
    assert_eq!(fixture.wait_for_effects(2).await, ["B-1", "B-2"]);

    let mut reasons = Vec::new();
    for _ in 0..2 {
        let message = fixture.dead_letter().await.expect("a dead letter");
        let event = Envelope::<StockLow>::parse(&message.delivery.data).unwrap();
        reasons.push((event.data.sku, error_header(&message)));
    }
    reasons.sort();
    assert_eq!(reasons[0].0, "FATAL-1");
    assert_eq!(reasons[0].1, "never", "permanent failures skip the retries");
    assert_eq!(reasons[1].0, "POISON-1");
    assert!(
        reasons[1].1.contains("gave up after 3 attempts"),
        "{}",
        reasons[1].1
    );
    // Counted: two handled, two retries of the poison, two parked.
    assert_eq!(fixture.metric(r#"outcome="handled""#), Some(2.0));
    assert_eq!(fixture.metric(r#"outcome="retried""#), Some(2.0));
    assert_eq!(fixture.metric(r#"outcome="dead_lettered""#), Some(2.0));
    assert!(fixture.metric("messaging_dead_letter_depth{").is_some());
    fixture.cleanup().await;
}

#[tokio::test]
async fn malformed_messages_go_straight_to_the_dlq_with_the_reason() {
    let fixture = Fixture::new().await;
    messaging::publish_confirmed(
        &fixture.channel,
        &fixture.topology.exchange,
        "stock.low",
        b"{not json",
        FieldTable::default(),
        "m-1",
    )
    .await
    .unwrap();
    let message = fixture.dead_letter().await.expect("a dead letter");
    assert_eq!(message.delivery.data, b"{not json");
    assert!(error_header(&message).starts_with("malformed"));
    fixture.emit("C-1").await;
    fixture
        .relay()
        .publish_pending(&fixture.channel)
        .await
        .unwrap();
    assert_eq!(fixture.wait_for_effects(1).await, ["C-1"]);
    fixture.cleanup().await;
}

#[tokio::test]
async fn an_unroutable_event_is_not_marked_sent() {
    let fixture = Fixture::new().await;
    let event = Envelope::new(
        "/orders",
        "o-1",
        None,
        events::payloads::OrderCancelled {
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            reason: "test".into(),
            contact: events::payloads::Contact {
                email: "a@example.com".into(),
                phone: None,
                name: "A".into(),
                locale: "en".into(),
                notify_email: true,
                notify_sms: false,
            },
        },
    );
    let mut tx = fixture.pool.begin().await.unwrap();
    enqueue(&mut tx, &event, "o-1").await.unwrap();
    tx.commit().await.unwrap();
    // Nobody is bound to order.cancelled on this exchange: the broker returns the message.
    let result = fixture.relay().publish_pending(&fixture.channel).await;
    assert!(
        matches!(result, Err(messaging::MessagingError::Rejected(_))),
        "{result:?}"
    );
    let pending: i64 = sqlx::query_scalar("select count(*) from outbox where published_at is null")
        .fetch_one(&fixture.pool)
        .await
        .unwrap();
    assert_eq!(pending, 1);
    fixture.cleanup().await;
}

#[tokio::test]
async fn dead_letters_can_be_listed_replayed_after_a_fix_and_discarded() {
    let fixture = Fixture::new().await;
    let poison = fixture.emit("POISON-9").await;
    let fatal = fixture.emit("FATAL-9").await;
    fixture
        .relay()
        .publish_pending(&fixture.channel)
        .await
        .unwrap();
    let queue = fixture.topology.queue.clone();
    let mut parked = Vec::new();
    for _ in 0..100 {
        parked = messaging::list_dead_letters(&fixture.channel, &queue)
            .await
            .unwrap();
        if parked.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ids: Vec<&str> = parked.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![poison.as_str(), fatal.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "listing leaves them parked");
    assert!(
        parked
            .iter()
            .all(|d| d.event_type.as_deref() == Some("stock.low") && d.error.is_some())
    );
    // Listing puts them back; the broker requeues asynchronously, so look until it has.
    assert_eq!(parked_ids(&fixture, &queue, 2).await.len(), 2);

    // The bug behind POISON-9 is fixed: replaying it applies it, FATAL-9 stays parked.
    sqlx::query("insert into fixes (sku) values ('POISON-9')")
        .execute(&fixture.pool)
        .await
        .unwrap();
    let mut replayed = 0;
    for _ in 0..100 {
        replayed = messaging::replay_dead_letters(&fixture.channel, &queue, Some(&poison))
            .await
            .unwrap();
        if replayed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(replayed, 1);
    assert_eq!(fixture.wait_for_effects(1).await, ["POISON-9"]);
    assert_eq!(
        parked_ids(&fixture, &queue, 1).await,
        std::slice::from_ref(&fatal)
    );
    let mut discarded = Vec::new();
    for _ in 0..100 {
        discarded = messaging::discard_dead_letters(&fixture.channel, &queue, None)
            .await
            .unwrap();
        if !discarded.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        discarded.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        [fatal]
    );
    assert!(parked_ids(&fixture, &queue, 0).await.is_empty());
    fixture.cleanup().await;
}

/// The ids parked for `queue`, once `expected` of them are visible (or after two seconds).
async fn parked_ids(fixture: &Fixture, queue: &str, expected: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids = messaging::list_dead_letters(&fixture.channel, queue)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        if ids.len() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ids
}

#[tokio::test]
async fn with_the_fallback_poll_at_a_minute_a_committed_event_still_leaves_at_once() {
    let fixture = Fixture::new().await;
    let (stop, stop_rx) = watch::channel(false);
    let relay = fixture.relay().with_poll(Duration::from_secs(60));
    let running = tokio::spawn(relay.run(stop_rx));
    // The first event shows the relay is up (it drains what is pending when it starts).
    fixture.emit("W-1").await;
    assert_eq!(fixture.wait_for_effects(1).await, ["W-1"]);
    // From here only the commit's notification can wake it within the minute.
    for (n, sku) in ["W-2", "W-3", "W-4"].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let committed = std::time::Instant::now();
        fixture.emit(sku).await;
        let effects = fixture.wait_for_effects(n + 2).await;
        let took = committed.elapsed();
        assert_eq!(effects.last().map(String::as_str), Some(sku));
        assert!(
            took < Duration::from_secs(1),
            "{sku} took {took:?} with a 60 s fallback poll: the wake-up on commit did not work"
        );
    }
    let _ = stop.send(true);
    running.await.unwrap();
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_second_relay_waits_while_the_first_leads_and_takes_over_when_it_stops() {
    let fixture = Fixture::new().await;
    let (stop_first, first_rx) = watch::channel(false);
    let first = tokio::spawn(fixture.relay().run(first_rx));
    fixture.emit("L-1").await;
    assert_eq!(fixture.wait_for_effects(1).await, ["L-1"]);
    let (stop_second, second_rx) = watch::channel(false);
    let second = tokio::spawn(
        fixture
            .relay()
            .with_poll(Duration::from_millis(100))
            .run(second_rx),
    );
    for sku in ["L-2", "L-3"] {
        fixture.emit(sku).await;
    }
    assert_eq!(fixture.wait_for_effects(3).await, ["L-1", "L-2", "L-3"]);
    let _ = stop_first.send(true);
    first.await.unwrap();
    fixture.emit("L-4").await;
    assert_eq!(
        fixture.wait_for_effects(4).await,
        ["L-1", "L-2", "L-3", "L-4"],
        "the standby relay took over"
    );
    let processed: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&fixture.pool)
        .await
        .unwrap();
    assert_eq!(processed, 4);
    let _ = stop_second.send(true);
    second.await.unwrap();
    fixture.cleanup().await;
}

/// Records when each delivery of an aggregate started and ended, taking a while each.
struct Timed;

impl Handler for Timed {
    async fn handle(&self, tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        let envelope = Envelope::<StockLow>::parse(&event.body)
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(40)).await;
        sqlx::query(
            "insert into spans (aggregate, sku, started_us, ended_us) values ($1, $2, $3, $4)",
        )
        .bind(event.attributes.correlationid.as_str())
        .bind(&envelope.data.sku)
        .bind(micros_since_epoch(started))
        .bind(micros_since_epoch(std::time::Instant::now()))
        .execute(tx)
        .await
        .map_err(|e| HandlerError::Retryable(e.to_string()))?;
        Ok(())
    }
}

fn micros_since_epoch(at: std::time::Instant) -> i64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    i64::try_from(at.saturating_duration_since(origin).as_micros()).unwrap()
}

#[tokio::test]
async fn deliveries_run_concurrently_but_never_two_of_one_aggregate_and_each_aggregate_in_order() {
    let db = TestDatabase::create("messaging_concurrency").await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    ensure_schema(&pool).await.unwrap();
    sqlx::query(
        "create table spans (id bigserial primary key, aggregate text not null, sku text not null, \
         started_us bigint not null, ended_us bigint not null)",
    )
    .execute(&pool)
    .await
    .unwrap();
    micros_since_epoch(std::time::Instant::now());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topology = Topology {
        exchange: format!("test.events.{id}"),
        queue: format!("test.timed.{id}"),
        bindings: vec!["stock.low".into()],
        retry_delays: vec![Duration::from_millis(100)],
    };
    let (connection, channel) = messaging::connect(&amqp_url()).await.unwrap();
    topology.declare(&channel).await.unwrap();
    // Four aggregates, five events each, written in an interleaved order.
    let aggregates = ["agg-a", "agg-b", "agg-c", "agg-d"];
    let mut tx = pool.begin().await.unwrap();
    for n in 0..5 {
        for aggregate in aggregates {
            let event = Envelope::new(
                "/inventory",
                aggregate,
                None,
                StockLow {
                    sku: format!("{aggregate}-{n}"),
                    available: 1,
                    threshold: 5,
                },
            );
            enqueue(&mut tx, &event, aggregate).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    let relay = Relay::new(pool.clone(), &amqp_url(), &topology.exchange);
    assert_eq!(relay.publish_pending(&channel).await.unwrap(), 20);

    let (stop, stop_rx) = watch::channel(false);
    let consumer = Consumer {
        name: "timed".into(),
        topology: topology.clone(),
        prefetch: 16,
        metrics: None,
    };
    let running = tokio::spawn(consumer.run(pool.clone(), amqp_url(), Timed, stop_rx));
    let mut spans: Vec<(String, String, i64, i64)> = Vec::new();
    for _ in 0..200 {
        spans =
            sqlx::query_as("select aggregate, sku, started_us, ended_us from spans order by id")
                .fetch_all(&pool)
                .await
                .unwrap();
        if spans.len() == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spans.len(), 20, "{spans:?}");
    for aggregate in aggregates {
        let mine: Vec<_> = spans.iter().filter(|s| s.0 == aggregate).collect();
        let order: Vec<&str> = mine.iter().map(|s| s.1.as_str()).collect();
        let expected: Vec<String> = (0..5).map(|n| format!("{aggregate}-{n}")).collect();
        assert_eq!(order, expected, "{aggregate} was handled out of order");
        for pair in mine.windows(2) {
            assert!(
                pair[1].2 >= pair[0].3,
                "two deliveries of {aggregate} overlapped: {pair:?}"
            );
        }
    }
    let overlapping = spans
        .iter()
        .any(|a| spans.iter().any(|b| a.0 != b.0 && a.2 < b.3 && b.2 < a.3));
    assert!(
        overlapping,
        "different aggregates never ran at the same time: {spans:?}"
    );
    let _ = stop.send(true);
    running.await.unwrap();
    for queue in [
        topology.queue.clone(),
        topology.dlq(),
        topology.retry_queue(Duration::from_millis(100)),
    ] {
        let _ = channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(topology.exchange.into(), ExchangeDeleteOptions::default())
        .await;
    drop(connection);
}

#[tokio::test]
async fn any_attempt_header_is_handled_retried_or_parked_and_never_crashes_the_consumer() {
    let fixture = Fixture::new().await;
    let publish = |sku: &str, attempt: Option<lapin::types::AMQPValue>| {
        let body = Envelope::new(
            "/inventory",
            sku,
            None,
            StockLow {
                sku: sku.into(),
                available: 1,
                threshold: 5,
            },
        )
        .to_json()
        .unwrap();
        let mut headers = FieldTable::default();
        if let Some(attempt) = attempt {
            headers.insert(messaging::ATTEMPT_HEADER.into(), attempt);
        }
        let channel = fixture.channel.clone();
        let exchange = fixture.topology.exchange.clone();
        let id = format!("m-{sku}");
        async move {
            messaging::publish_confirmed(&channel, &exchange, "stock.low", &body, headers, &id)
                .await
                .unwrap();
        }
    };
    use lapin::types::AMQPValue;
    // Handled at once, whatever the header says.
    publish("H-0", Some(AMQPValue::LongString("0".into()))).await;
    publish("H-neg", Some(AMQPValue::LongLongInt(-3))).await;
    publish("H-junk", Some(AMQPValue::LongString("banana".into()))).await;
    publish("H-bool", Some(AMQPValue::Boolean(true))).await;
    let mut effects = fixture.wait_for_effects(4).await;
    effects.sort();
    assert_eq!(effects, ["H-0", "H-bool", "H-junk", "H-neg"]);
    // Failing with a broken header: retried from the first attempt, then parked.
    publish("POISON-junk", Some(AMQPValue::LongString("0".into()))).await;
    // Failing with an attempt past every retry: parked at once.
    publish(
        "POISON-max",
        Some(AMQPValue::LongString(u32::MAX.to_string().into())),
    )
    .await;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let message = fixture.dead_letter().await.expect("a dead letter");
        let event = Envelope::<StockLow>::parse(&message.delivery.data).unwrap();
        reasons.push((event.data.sku, error_header(&message)));
    }
    reasons.sort();
    assert_eq!(reasons[0].0, "POISON-junk");
    assert!(
        reasons[0].1.contains("gave up after 3 attempts"),
        "{}",
        reasons[0].1
    );
    assert_eq!(reasons[1].0, "POISON-max");
    assert!(
        reasons[1]
            .1
            .contains(&format!("gave up after {} attempts", u32::MAX)),
        "{}",
        reasons[1].1
    );
    // The consumer is still there.
    fixture.emit("AFTER-1").await;
    fixture
        .relay()
        .publish_pending(&fixture.channel)
        .await
        .unwrap();
    assert!(
        fixture
            .wait_for_effects(5)
            .await
            .contains(&"AFTER-1".to_owned())
    );
    assert_eq!(fixture.metric(r#"outcome="retried""#), Some(2.0));
    assert_eq!(fixture.metric(r#"outcome="dead_lettered""#), Some(2.0));
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_message_on_its_last_attempt_outlives_an_outage_of_the_consumers_database() {
    let fixture = Fixture::build(true).await;
    let db_link = fixture.db_link.as_ref().unwrap();
    db_link.down();
    // On its last attempt (two retry delays, so attempt 3 is the last): a handler failure
    // now would park it.
    let body = Envelope::new(
        "/inventory",
        "LAST-1",
        None,
        StockLow {
            sku: "LAST-1".into(),
            available: 1,
            threshold: 5,
        },
    )
    .to_json()
    .unwrap();
    let mut headers = FieldTable::default();
    headers.insert(
        messaging::ATTEMPT_HEADER.into(),
        lapin::types::AMQPValue::LongString("3".into()),
    );
    messaging::publish_confirmed(
        &fixture.channel,
        &fixture.topology.exchange,
        "stock.low",
        &body,
        headers,
        "m-last-1",
    )
    .await
    .unwrap();
    // The database stays unreachable until the message went round the retry queue at least
    // three times: each time it costs no attempt, so it is never parked.
    for _ in 0..200 {
        if fixture
            .metric(r#"outcome="retried""#)
            .is_some_and(|n| n >= 3.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        fixture
            .metric(r#"outcome="retried""#)
            .is_some_and(|n| n >= 3.0),
        "{:?}",
        fixture.metric(r#"outcome="retried""#)
    );
    assert!(fixture.effects().await.is_empty());
    db_link.up();
    assert_eq!(fixture.wait_for_effects(1).await, ["LAST-1"]);
    let parked = fixture
        .channel
        .basic_get(
            fixture.topology.dlq().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap();
    assert!(parked.is_none(), "parked during the outage");
    assert_eq!(fixture.metric(r#"outcome="dead_lettered""#), Some(0.0));
    // A message that itself fails is still parked after its last attempt.
    let mut tx = fixture.pool.begin().await.unwrap();
    let poison = Envelope::new(
        "/inventory",
        "POISON-last",
        None,
        StockLow {
            sku: "POISON-last".into(),
            available: 1,
            threshold: 5,
        },
    );
    enqueue(&mut tx, &poison, "POISON-last").await.unwrap();
    tx.commit().await.unwrap();
    fixture
        .relay()
        .publish_pending(&fixture.channel)
        .await
        .unwrap();
    let message = fixture.dead_letter().await.expect("a dead letter");
    assert!(
        error_header(&message).contains("gave up after 3 attempts"),
        "{}",
        error_header(&message)
    );
    fixture.cleanup().await;
}
