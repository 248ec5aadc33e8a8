//! # webhook-dispatcher
//!
//! A Lambda function fed by the `webhook-dispatcher` SQS queue (every event type). For each
//! event it finds the active subscriptions of its type (one DynamoDB query), and POSTs the
//! event to each endpoint signed per Standard Webhooks with the endpoint's secret from Secrets
//! Manager. Every attempt is written to the delivery log.
//!
//! - 2xx: delivered (a redelivered event skips endpoints that already have it);
//! - 410 Gone: the subscription is disabled;
//! - 429, 5xx, timeout, connection failure: retried: the record is reported failed and its
//!   visibility is extended with exponential backoff, or to the endpoint's `Retry-After`; after
//!   the queue's `maxReceiveCount` it moves to the DLQ;
//! - other 4xx: the endpoint refuses the event; logged, not retried.
//!
//! Endpoints that resolve to loopback, private, link-local or other non-public addresses are
//! refused unless `ALLOW_PRIVATE_ENDPOINTS=true` (local development).
//!
//! Account events (personal data, sealed tokens) are never delivered, should one reach the
//! queue despite its filter policy. [`incoming`], [`signed_request`], [`outcome_of`] and
//! [`backoff`] are the decisions, free of AWS and HTTP calls.

pub use webhooks::{signing, ssrf};

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::Attributes;
use function_kit::batch::RecordError;
use webhooks::store::{Delivery, Endpoint, Status, Store, StoreError, now_rfc3339};

/// Environment variables the function reads.
pub mod env {
    /// Subscriptions table.
    pub const SUBSCRIPTIONS_TABLE: &str = "SUBSCRIPTIONS_TABLE";
    /// Delivery log table.
    pub const DELIVERIES_TABLE: &str = "DELIVERIES_TABLE";
    /// Prefix of the endpoint secrets' names.
    pub const WEBHOOK_SECRET_PREFIX: &str = "WEBHOOK_SECRET_PREFIX";
    /// `true` lets endpoints resolve to private addresses (local development only).
    pub const ALLOW_PRIVATE_ENDPOINTS: &str = "ALLOW_PRIVATE_ENDPOINTS";
}

/// Longest a delivery attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest backoff between attempts (SQS allows 12 hours; partners want news sooner).
pub const MAX_BACKOFF: Duration = Duration::from_secs(900);

/// The dispatcher's dependencies and settings.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// Subscriptions, secrets and the delivery log.
    pub store: Store,
    /// SQS (visibility extension).
    pub sqs: aws_sdk_sqs::Client,
    /// HTTP client for deliveries (no redirects).
    pub http: reqwest::Client,
    /// Whether private addresses are allowed.
    pub allow_private: bool,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Retry later, at the earliest after the given delay (`Retry-After`).
    Retry(Option<Duration>),
    /// 410: the subscription was disabled.
    Disabled,
    /// Refused for good (4xx other than 410 and 429, or a forbidden address).
    Rejected,
}

impl Outcome {
    /// The delivery log's label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry(_) => "retrying",
            Self::Disabled => "disabled",
            Self::Rejected => "failed",
        }
    }
}

/// The client deliveries go out with: no redirects (a redirect could lead anywhere), a
/// timeout per attempt, and, unless private endpoints are allowed, a resolver that connects
/// only to public addresses (so a name cannot be rebound to a private one after its check).
pub fn delivery_client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("retail-platform-webhooks/1");
    if allow_private {
        builder.build()
    } else {
        builder
            .dns_resolver(std::sync::Arc::new(ssrf::PublicOnly))
            .build()
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_err)`
fn store_err(e: StoreError) -> RecordError {
    RecordError::Retryable(e.to_string())
}

/// An event to deliver, read from one SQS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The event's attributes: its id is the `webhook-id`, its type selects the endpoints.
    pub attributes: Attributes,
    /// The body, delivered unchanged: the CloudEvents JSON (SNS raw message delivery).
    pub body: String,
    /// Which receive of the record this is (`ApproximateReceiveCount`, 1 when absent).
    pub attempt: u32,
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Reads one record, without any AWS call: `None` for an account event (personal data and
/// sealed tokens never go to partners; the subscription's filter policy keeps them off the
/// queue, this keeps them off the wire should one arrive anyway), and
/// [`RecordError::Unprocessable`] when the body is not an event.
pub fn incoming(record: &SqsMessage) -> Result<Option<Incoming>, RecordError> {
    let body = record.body.clone().unwrap_or_default();
    let attributes =
        Attributes::peek(body.as_bytes()).map_err(|e| RecordError::Unprocessable(e.to_string()))?;
    if events::payloads::account_types().contains(&attributes.event_type.as_str()) {
        tracing::warn!(event_type = %attributes.event_type, "an account event is never delivered to partners");
        return Ok(None);
    }
    Ok(Some(Incoming {
        attributes,
        body,
        attempt: receive_count(record),
    }))
}

/// One delivery request, signed per Standard Webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The endpoint's URL (a POST).
    pub url: String,
    /// `content-type`, `webhook-id`, `webhook-timestamp` and `webhook-signature`, in that order.
    pub headers: Vec<(&'static str, String)>,
    /// The event, unchanged.
    pub body: Vec<u8>,
}

/// The request delivering event `event_id` (`body`) to `endpoint`, signed at unix time
/// `timestamp` with each of `keys` (the current secret and, during a rotation, the previous).
pub fn signed_request(
    endpoint: &Endpoint,
    event_id: &str,
    body: &[u8],
    keys: &[Vec<u8>],
    timestamp: i64,
) -> SignedRequest {
    SignedRequest {
        url: endpoint.url.clone(),
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("webhook-id", event_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                signing::sign_all(keys, event_id, timestamp, body),
            ),
        ],
        body: body.to_vec(),
    }
}

/// How an endpoint's answer ends an attempt: 2xx delivered, 410 disabled, 429 and 5xx retried
/// (no sooner than a `Retry-After` in seconds, when given), any other status rejected.
pub fn outcome_of(status: u16, retry_after: Option<&str>) -> Outcome {
    let retry_after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match status {
        200..=299 => Outcome::Delivered,
        410 => Outcome::Disabled,
        429 | 500..=599 => Outcome::Retry(retry_after),
        _ => Outcome::Rejected,
    }
}

/// How long a record waits before its next receive, by its receive count: 10 s, 20 s, 40 s, ...,
/// at least the endpoint's `Retry-After`, at most [`MAX_BACKOFF`].
pub fn backoff(receives: u32, retry_after: Option<Duration>) -> Duration {
    let exponential =
        Duration::from_secs(10u64.saturating_mul(1 << receives.saturating_sub(1).min(10)));
    exponential
        .max(retry_after.unwrap_or_default())
        .min(MAX_BACKOFF)
}

impl Dispatcher {
    /// From the AWS configuration and the environment.
    pub fn from_env(config: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let var = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("{k} is not set"));
        Self::new(
            config,
            &var(env::SUBSCRIPTIONS_TABLE)?,
            &var(env::DELIVERIES_TABLE)?,
            &var(env::WEBHOOK_SECRET_PREFIX)?,
            std::env::var(env::ALLOW_PRIVATE_ENDPOINTS).is_ok_and(|v| v == "true"),
        )
    }

    /// From explicit settings.
    pub fn new(
        config: &aws_config::SdkConfig,
        subscriptions: &str,
        deliveries: &str,
        secret_prefix: &str,
        allow_private: bool,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(config),
                aws_sdk_secretsmanager::Client::new(config),
                subscriptions,
                deliveries,
                secret_prefix,
            ),
            sqs: aws_sdk_sqs::Client::new(config),
            http: delivery_client(allow_private)?,
            allow_private,
        })
    }

    /// Handles a batch: failed records are reported and their visibility extended.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        function_kit::batch::process(event, |record| self.record(record)).await
    }

    async fn record(&self, record: SqsMessage) -> Result<(), RecordError> {
        let Some(Incoming {
            attributes,
            body,
            attempt,
        }) = incoming(&record)?
        else {
            return Ok(());
        };
        let endpoints = self
            .store
            .endpoints_for(&attributes.event_type)
            .await
            .map_err(store_err)?;
        let mut retry_after: Option<Option<Duration>> = None;
        for endpoint in endpoints {
            if self
                .store
                .delivered(&attributes.id, &endpoint.id)
                .await
                .map_err(store_err)?
            {
                continue;
            }
            let outcome = self
                .deliver(&endpoint, &attributes, body.as_bytes(), attempt)
                .await?;
            if let Outcome::Retry(after) = outcome {
                retry_after = Some(retry_after.flatten().max(after));
            }
        }
        match retry_after {
            None => Ok(()),
            Some(after) => {
                self.back_off(&record, after).await;
                Err(RecordError::Retryable(
                    "an endpoint asked for a retry".into(),
                ))
            }
        }
    }

    async fn keys(&self, subscription: &str) -> Result<Vec<Vec<u8>>, RecordError> {
        let stored = self
            .store
            .stored_secret(subscription)
            .await
            .map_err(store_err)?;
        stored
            .keys(time::OffsetDateTime::now_utc().unix_timestamp())
            .map_err(|e| RecordError::Unprocessable(format!("secret of {subscription}: {e}")))
    }

    /// One attempt to one endpoint, logged.
    pub async fn deliver(
        &self,
        endpoint: &Endpoint,
        attributes: &Attributes,
        body: &[u8],
        attempt: u32,
    ) -> Result<Outcome, RecordError> {
        let started = Instant::now();
        let (outcome, status, error) = match ssrf::check(&endpoint.url, self.allow_private).await {
            Err(reason) => (Outcome::Rejected, None, Some(reason)),
            Ok(()) => {
                let keys = self.keys(&endpoint.id).await?;
                let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
                let request = signed_request(endpoint, &attributes.id, body, &keys, timestamp);
                let mut post = self.http.post(&request.url);
                for (name, value) in request.headers {
                    post = post.header(name, value);
                }
                let sent = post.body(request.body).send().await;
                match sent {
                    Ok(response) => {
                        let code = response.status().as_u16();
                        let retry_after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok());
                        (outcome_of(code, retry_after), Some(code), None)
                    }
                    Err(err) => (Outcome::Retry(None), None, Some(err.to_string())),
                }
            }
        };
        if outcome == Outcome::Disabled {
            self.store
                .set_status(
                    &endpoint.id,
                    Status::Disabled,
                    Some("endpoint answered 410 Gone"),
                )
                .await
                .map_err(store_err)?;
            tracing::warn!(
                subscription = endpoint.id,
                "endpoint answered 410 Gone; subscription disabled"
            );
        }
        self.store
            .log(&Delivery {
                delivery_id: uuid::Uuid::now_v7().to_string(),
                subscription_id: endpoint.id.clone(),
                event_id: attributes.id.clone(),
                event_type: attributes.event_type.clone(),
                url: endpoint.url.clone(),
                attempt,
                outcome: outcome.label().to_owned(),
                status_code: status,
                error,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                at: now_rfc3339(),
            })
            .await
            .map_err(store_err)?;
        Ok(outcome)
    }

    /// Extends the record's visibility: 10 s, 20 s, 40 s, ... (by receive count), at least the
    /// endpoint's `Retry-After`, at most [`MAX_BACKOFF`].
    async fn back_off(&self, record: &SqsMessage, retry_after: Option<Duration>) {
        let delay = backoff(receive_count(record), retry_after);
        let (Some(arn), Some(handle)) = (&record.event_source_arn, &record.receipt_handle) else {
            return;
        };
        let Some(name) = arn.rsplit(':').next() else {
            return;
        };
        let url = match self.sqs.get_queue_url().queue_name(name).send().await {
            Ok(output) => output.queue_url().unwrap_or_default().to_owned(),
            Err(err) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(err), "cannot find the queue to back off");
                return;
            }
        };
        let changed = self
            .sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(900))
            .send()
            .await;
        if let Err(err) = changed {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(err), "could not extend visibility");
        }
    }
}
