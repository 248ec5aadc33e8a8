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

pub mod signing;
pub mod ssrf;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use events::Attributes;
use function_kit::batch::RecordError;

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
/// How long the delivery log keeps an attempt.
pub const LOG_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The dispatcher's dependencies and settings.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// DynamoDB.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// SQS (visibility extension).
    pub sqs: aws_sdk_sqs::Client,
    /// HTTP client for deliveries (no redirects).
    pub http: reqwest::Client,
    /// Subscriptions table.
    pub subscriptions: String,
    /// Delivery log table.
    pub deliveries: String,
    /// Secret name prefix.
    pub secret_prefix: String,
    /// Whether private addresses are allowed.
    pub allow_private: bool,
}

/// A subscription of one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// Endpoint URL.
    pub url: String,
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
    fn label(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry(_) => "retry",
            Self::Disabled => "disabled",
            Self::Rejected => "rejected",
        }
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn dynamo_err(e: impl std::fmt::Display) -> RecordError {
    RecordError::Retryable(e.to_string())
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
            dynamo: aws_sdk_dynamodb::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            http: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("retail-platform-webhooks/1")
                .build()?,
            subscriptions: subscriptions.to_owned(),
            deliveries: deliveries.to_owned(),
            secret_prefix: secret_prefix.to_owned(),
            allow_private,
        })
    }

    /// Handles a batch: failed records are reported and their visibility extended.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        function_kit::batch::process(event, |record| self.record(record)).await
    }

    async fn record(&self, record: SqsMessage) -> Result<(), RecordError> {
        let body = record.body.clone().unwrap_or_default();
        let attributes = Attributes::peek(body.as_bytes())
            .map_err(|e| RecordError::Unprocessable(e.to_string()))?;
        let subscriptions = self.subscribers(&attributes.event_type).await?;
        let mut retry_after: Option<Option<Duration>> = None;
        for subscription in subscriptions {
            if self
                .already_delivered(&attributes.id, &subscription.id)
                .await?
            {
                continue;
            }
            let outcome = self
                .deliver(&subscription, &attributes, body.as_bytes())
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

    /// Active subscriptions of an event type.
    pub async fn subscribers(&self, event_type: &str) -> Result<Vec<Subscription>, RecordError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.subscriptions)
            .key_condition_expression("event_type = :t")
            .filter_expression("#s = :active")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":t", s(event_type))
            .expression_attribute_values(":active", s("active"))
            .send()
            .await
            .map_err(|e| dynamo_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(output
            .items()
            .iter()
            .filter_map(|item| {
                Some(Subscription {
                    id: item.get("subscription_id")?.as_s().ok()?.clone(),
                    url: item.get("url")?.as_s().ok()?.clone(),
                })
            })
            .collect())
    }

    async fn already_delivered(
        &self,
        event_id: &str,
        subscription: &str,
    ) -> Result<bool, RecordError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.deliveries)
            .index_name("by_event_id")
            .key_condition_expression("event_id = :e AND subscription_id = :s")
            .filter_expression("outcome = :d")
            .expression_attribute_values(":e", s(event_id))
            .expression_attribute_values(":s", s(subscription))
            .expression_attribute_values(":d", s("delivered"))
            .send()
            .await
            .map_err(|e| dynamo_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(output.count() > 0)
    }

    async fn secret(&self, subscription: &str) -> Result<Vec<u8>, RecordError> {
        let name = format!("{}{subscription}", self.secret_prefix);
        let value = self
            .secrets
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| {
                RecordError::Retryable(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        let text = value.secret_string().unwrap_or_default();
        signing::key_bytes(text)
            .map_err(|e| RecordError::Unprocessable(format!("secret {name}: {e}")))
    }

    /// One attempt to one endpoint, logged.
    pub async fn deliver(
        &self,
        subscription: &Subscription,
        attributes: &Attributes,
        body: &[u8],
    ) -> Result<Outcome, RecordError> {
        let started = Instant::now();
        let (outcome, status, error) =
            match ssrf::check(&subscription.url, self.allow_private).await {
                Err(reason) => (Outcome::Rejected, None, Some(reason)),
                Ok(()) => {
                    let key = self.secret(&subscription.id).await?;
                    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
                    let signature = signing::sign(&key, &attributes.id, timestamp, body);
                    let sent = self
                        .http
                        .post(&subscription.url)
                        .header("content-type", "application/json")
                        .header("webhook-id", &attributes.id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header("webhook-signature", signature)
                        .body(body.to_vec())
                        .send()
                        .await;
                    match sent {
                        Ok(response) => {
                            let code = response.status().as_u16();
                            let retry_after = response
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .map(Duration::from_secs);
                            let outcome = match code {
                                200..=299 => Outcome::Delivered,
                                410 => Outcome::Disabled,
                                429 | 500..=599 => Outcome::Retry(retry_after),
                                _ => Outcome::Rejected,
                            };
                            (outcome, Some(code), None)
                        }
                        Err(err) => (Outcome::Retry(None), None, Some(err.to_string())),
                    }
                }
            };
        if outcome == Outcome::Disabled {
            self.disable(&subscription.id).await?;
        }
        self.log(
            subscription,
            attributes,
            &outcome,
            status,
            error.as_deref(),
            started.elapsed(),
        )
        .await?;
        Ok(outcome)
    }

    async fn log(
        &self,
        subscription: &Subscription,
        attributes: &Attributes,
        outcome: &Outcome,
        status: Option<u16>,
        error: Option<&str>,
        took: Duration,
    ) -> Result<(), RecordError> {
        let now = time::OffsetDateTime::now_utc();
        let expires = now.unix_timestamp() + i64::try_from(LOG_RETENTION.as_secs()).unwrap_or(0);
        let mut put = self
            .dynamo
            .put_item()
            .table_name(&self.deliveries)
            .item("subscription_id", s(&subscription.id))
            .item("delivery_id", s(&uuid::Uuid::now_v7().to_string()))
            .item("event_id", s(&attributes.id))
            .item("event_type", s(&attributes.event_type))
            .item("url", s(&subscription.url))
            .item("outcome", s(outcome.label()))
            .item(
                "duration_ms",
                AttributeValue::N(took.as_millis().to_string()),
            )
            .item(
                "at",
                s(&now
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()),
            )
            .item("expires_at", AttributeValue::N(expires.to_string()));
        if let Some(code) = status {
            put = put.item("status_code", AttributeValue::N(code.to_string()));
        }
        if let Some(error) = error {
            put = put.item("error", s(error));
        }
        put.send()
            .await
            .map_err(|e| dynamo_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Marks every event-type item of a subscription disabled.
    async fn disable(&self, subscription: &str) -> Result<(), RecordError> {
        let items = self
            .dynamo
            .query()
            .table_name(&self.subscriptions)
            .index_name("by_subscription_id")
            .key_condition_expression("subscription_id = :s")
            .expression_attribute_values(":s", s(subscription))
            .send()
            .await
            .map_err(|e| dynamo_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        for item in items.items() {
            let Some(event_type) = item.get("event_type").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            self.dynamo
                .update_item()
                .table_name(&self.subscriptions)
                .key("event_type", s(event_type))
                .key("subscription_id", s(subscription))
                .update_expression("SET #s = :d, disabled_reason = :r")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":d", s("disabled"))
                .expression_attribute_values(":r", s("endpoint answered 410 Gone"))
                .send()
                .await
                .map_err(|e| dynamo_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        tracing::warn!(
            subscription,
            "endpoint answered 410 Gone; subscription disabled"
        );
        Ok(())
    }

    /// Extends the record's visibility: 10 s, 20 s, 40 s, ... (by receive count), at least the
    /// endpoint's `Retry-After`, at most [`MAX_BACKOFF`].
    async fn back_off(&self, record: &SqsMessage, retry_after: Option<Duration>) {
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let exponential =
            Duration::from_secs(10u64.saturating_mul(1 << receives.saturating_sub(1).min(10)));
        let delay = exponential
            .max(retry_after.unwrap_or_default())
            .min(MAX_BACKOFF);
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

/// The delivery log of a subscription, newest first (for the admin API and tests).
pub async fn delivery_log(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    subscription: &str,
) -> anyhow::Result<Vec<HashMap<String, AttributeValue>>> {
    let output = dynamo
        .query()
        .table_name(table)
        .key_condition_expression("subscription_id = :s")
        .expression_attribute_values(":s", s(subscription))
        .scan_index_forward(false)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
    Ok(output.items().to_vec())
}
