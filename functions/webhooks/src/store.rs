//! Subscriptions and the delivery log in DynamoDB, endpoint secrets in Secrets Manager.
//!
//! The subscriptions table is keyed by `(event_type, subscription_id)` so that the dispatcher
//! finds an event's endpoints with one query:
//! - one item per subscribed event type (`*` for a subscription to every type) with the URL
//!   and status;
//! - one record item per subscription under the event type [`RECORD`], with what the admin
//!   API shows (description, event types, times, why it was disabled).
//!
//! The GSI `by_subscription_id` finds every item of a subscription (to disable or enable it).
//! The secret of subscription `id` is the Secrets Manager secret `<secret_prefix><id>`, holding
//! a [`StoredSecret`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::signing::{StoredSecret, generate_secret};

/// The event-type partition that holds one record item per subscription.
pub const RECORD: &str = "_subscription";
/// The event type of a subscription to every event.
pub const ALL_EVENTS: &str = "*";
/// How long a delivery log entry is kept.
pub const LOG_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most event types one subscription may name (a DynamoDB transaction holds 100 items).
pub const MAX_EVENT_TYPES: usize = 50;

/// Whether an endpoint receives deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Deliveries are sent.
    Active,
    /// No deliveries (an operator disabled it, or the endpoint answered 410 Gone).
    Disabled,
}

impl Status {
    /// The stored and shown label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// A partner subscription as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subscription {
    /// Id (UUID v7, so newer subscriptions sort later).
    pub id: String,
    /// Endpoint URL.
    pub url: String,
    /// Subscribed event types; empty means every event.
    pub event_types: Vec<String>,
    /// What the partner uses it for.
    pub description: String,
    /// Active or disabled.
    pub status: Status,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An endpoint to deliver one event to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Subscription id.
    pub id: String,
    /// URL.
    pub url: String,
}

/// One delivery attempt in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Attempt id (UUID v7: the log sorts by time).
    pub delivery_id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The event (also the `webhook-id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// Where it was sent.
    pub url: String,
    /// Which receive of the event this was (1 for the first attempt).
    pub attempt: u32,
    /// `delivered`, `retrying`, `failed` or `disabled`.
    pub outcome: String,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u64,
    /// RFC 3339.
    pub at: String,
}

/// Access to subscriptions, secrets and the delivery log.
#[derive(Debug, Clone)]
pub struct Store {
    /// DynamoDB.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Subscriptions table.
    pub subscriptions: String,
    /// Delivery log table.
    pub deliveries: String,
    /// Secret name prefix.
    pub secret_prefix: String,
    /// The KMS key new secrets are encrypted with (the account's default key when unset).
    pub secret_kms_key: Option<String>,
}

/// A bad cursor, or an AWS failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The paging cursor is not one this API handed out.
    #[error("invalid cursor")]
    BadCursor,
    /// DynamoDB or Secrets Manager failed.
    #[error("{0}")]
    Aws(String),
}

fn aws<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn number<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, key: &str) -> Option<T> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Now, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let key = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    uuid::Uuid::parse_str(&key).map_err(|_| StoreError::BadCursor)?;
    Ok(key)
}

fn subscription_of(item: &HashMap<String, AttributeValue>) -> Option<Subscription> {
    Some(Subscription {
        id: text(item, "subscription_id")?,
        url: text(item, "url")?,
        event_types: item
            .get("event_types")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        description: text(item, "description").unwrap_or_default(),
        status: match text(item, "status").as_deref() {
            Some("active") => Status::Active,
            _ => Status::Disabled,
        },
        disabled_reason: text(item, "disabled_reason"),
        created_at: text(item, "created_at").unwrap_or_default(),
        updated_at: text(item, "updated_at").unwrap_or_default(),
    })
}

fn delivery_of(item: &HashMap<String, AttributeValue>) -> Option<Delivery> {
    Some(Delivery {
        delivery_id: text(item, "delivery_id")?,
        subscription_id: text(item, "subscription_id")?,
        event_id: text(item, "event_id").unwrap_or_default(),
        event_type: text(item, "event_type").unwrap_or_default(),
        url: text(item, "url").unwrap_or_default(),
        attempt: number(item, "attempt").unwrap_or(1),
        outcome: text(item, "outcome").unwrap_or_default(),
        status_code: number(item, "status_code"),
        error: text(item, "error"),
        duration_ms: number(item, "duration_ms").unwrap_or(0),
        at: text(item, "at").unwrap_or_default(),
    })
}

impl Store {
    /// A store over the given clients and names.
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
        subscriptions: &str,
        deliveries: &str,
        secret_prefix: &str,
    ) -> Self {
        Self {
            dynamo,
            secrets,
            subscriptions: subscriptions.to_owned(),
            deliveries: deliveries.to_owned(),
            secret_prefix: secret_prefix.to_owned(),
            secret_kms_key: None,
        }
    }

    /// New secrets are encrypted with this KMS key.
    #[must_use]
    pub fn with_secret_kms_key(mut self, key: Option<String>) -> Self {
        self.secret_kms_key = key.filter(|k| !k.is_empty());
        self
    }

    fn secret_name(&self, id: &str) -> String {
        format!("{}{id}", self.secret_prefix)
    }

    /// Creates an active subscription and its secret; returns it with the secret, which is
    /// shown this once. `event_types` must be validated and deduplicated by the caller.
    pub async fn create(
        &self,
        url: &str,
        event_types: &[String],
        description: &str,
    ) -> Result<(Subscription, String), StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let secret = generate_secret().map_err(|e| StoreError::Aws(e.to_string()))?;
        let stored = StoredSecret {
            current: secret.clone(),
            previous: None,
            previous_until: None,
        };
        self.secrets
            .create_secret()
            .name(self.secret_name(&id))
            .description(format!("Webhook signing secret of subscription {id}"))
            .secret_string(serde_json::to_string(&stored).unwrap_or_default())
            .set_kms_key_id(self.secret_kms_key.clone())
            .send()
            .await
            .map_err(aws)?;
        let now = now_rfc3339();
        let subscription = Subscription {
            id: id.clone(),
            url: url.to_owned(),
            event_types: event_types.to_vec(),
            description: description.to_owned(),
            status: Status::Active,
            disabled_reason: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let mut writes = vec![self.put(self.record_item(&subscription))?];
        let keys: Vec<&str> = if event_types.is_empty() {
            vec![ALL_EVENTS]
        } else {
            event_types.iter().map(String::as_str).collect()
        };
        for event_type in keys {
            writes.push(self.put(HashMap::from([
                ("event_type".to_owned(), s(event_type)),
                ("subscription_id".to_owned(), s(&id)),
                ("url".to_owned(), s(url)),
                ("status".to_owned(), s(Status::Active.label())),
            ]))?);
        }
        let written = self
            .dynamo
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        if let Err(err) = written {
            // Leave no orphan secret behind.
            let _ = self
                .secrets
                .delete_secret()
                .secret_id(self.secret_name(&id))
                .force_delete_without_recovery(true)
                .send()
                .await;
            return Err(aws(err));
        }
        Ok((subscription, secret))
    }

    fn record_item(&self, subscription: &Subscription) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("event_type".to_owned(), s(RECORD)),
            ("subscription_id".to_owned(), s(&subscription.id)),
            ("url".to_owned(), s(&subscription.url)),
            (
                "event_types".to_owned(),
                AttributeValue::L(subscription.event_types.iter().map(|t| s(t)).collect()),
            ),
            ("description".to_owned(), s(&subscription.description)),
            ("status".to_owned(), s(subscription.status.label())),
            ("created_at".to_owned(), s(&subscription.created_at)),
            ("updated_at".to_owned(), s(&subscription.updated_at)),
        ]);
        if let Some(reason) = &subscription.disabled_reason {
            item.insert("disabled_reason".to_owned(), s(reason));
        }
        item
    }

    fn put(&self, item: HashMap<String, AttributeValue>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.subscriptions)
            .set_item(Some(item))
            .build()
            .map_err(aws)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// One subscription.
    pub async fn get(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.subscriptions)
            .key("event_type", s(RECORD))
            .key("subscription_id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        Ok(output.item().and_then(subscription_of))
    }

    /// A page of subscriptions, newest first, and the cursor of the next page.
    pub async fn list(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Subscription>, Option<String>), StoreError> {
        let mut query = self
            .dynamo
            .query()
            .table_name(&self.subscriptions)
            .key_condition_expression("event_type = :r")
            .expression_attribute_values(":r", s(RECORD))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(cursor) = cursor {
            let key = decode_cursor(cursor)?;
            query = query
                .exclusive_start_key("event_type", s(RECORD))
                .exclusive_start_key("subscription_id", s(&key));
        }
        let output = query.send().await.map_err(aws)?;
        let items: Vec<Subscription> = output.items().iter().filter_map(subscription_of).collect();
        let next = output
            .last_evaluated_key()
            .and_then(|k| text(k, "subscription_id"))
            .map(|k| encode_cursor(&k));
        Ok((items, next))
    }

    /// The active endpoints of an event type (subscribed to it, or to every event).
    pub async fn endpoints_for(&self, event_type: &str) -> Result<Vec<Endpoint>, StoreError> {
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for key in [event_type, ALL_EVENTS] {
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                let output = self
                    .dynamo
                    .query()
                    .table_name(&self.subscriptions)
                    .key_condition_expression("event_type = :t")
                    .filter_expression("#s = :active")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":t", s(key))
                    .expression_attribute_values(":active", s(Status::Active.label()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(aws)?;
                for item in output.items() {
                    if let (Some(id), Some(url)) =
                        (text(item, "subscription_id"), text(item, "url"))
                        && !endpoints.iter().any(|e| e.id == id)
                    {
                        endpoints.push(Endpoint { id, url });
                    }
                }
                match output.last_evaluated_key() {
                    Some(key) => start = Some(key.clone()),
                    None => break,
                }
            }
        }
        Ok(endpoints)
    }

    /// Sets the status of every item of a subscription; `None` when there is no such
    /// subscription.
    pub async fn set_status(
        &self,
        id: &str,
        status: Status,
        reason: Option<&str>,
    ) -> Result<Option<Subscription>, StoreError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.subscriptions)
            .index_name("by_subscription_id")
            .key_condition_expression("subscription_id = :s")
            .expression_attribute_values(":s", s(id))
            .send()
            .await
            .map_err(aws)?;
        if output.items().is_empty() {
            return Ok(None);
        }
        let now = now_rfc3339();
        for item in output.items() {
            let Some(event_type) = text(item, "event_type") else {
                continue;
            };
            let mut update = self
                .dynamo
                .update_item()
                .table_name(&self.subscriptions)
                .key("event_type", s(&event_type))
                .key("subscription_id", s(id))
                .condition_expression("attribute_exists(subscription_id)")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":st", s(status.label()));
            update = match (status, reason) {
                (Status::Disabled, Some(reason)) => update
                    .update_expression("SET #s = :st, disabled_reason = :r, updated_at = :u")
                    .expression_attribute_values(":r", s(reason)),
                _ => {
                    update.update_expression("SET #s = :st, updated_at = :u REMOVE disabled_reason")
                }
            };
            update
                .expression_attribute_values(":u", s(&now))
                .send()
                .await
                .map_err(aws)?;
        }
        self.get(id).await
    }

    /// Rotates a subscription's secret: deliveries carry signatures with both the new and the
    /// old secret for `grace`. Returns the new secret; `None` when there is no such
    /// subscription.
    pub async fn rotate_secret(
        &self,
        id: &str,
        grace: Duration,
    ) -> Result<Option<(Subscription, String)>, StoreError> {
        let Some(subscription) = self.get(id).await? else {
            return Ok(None);
        };
        let old = self.stored_secret(id).await?;
        let secret = generate_secret().map_err(|e| StoreError::Aws(e.to_string()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let stored = StoredSecret {
            current: secret.clone(),
            previous: Some(old.current),
            previous_until: Some(now + i64::try_from(grace.as_secs()).unwrap_or(0)),
        };
        self.secrets
            .put_secret_value()
            .secret_id(self.secret_name(id))
            .secret_string(serde_json::to_string(&stored).unwrap_or_default())
            .send()
            .await
            .map_err(aws)?;
        self.dynamo
            .update_item()
            .table_name(&self.subscriptions)
            .key("event_type", s(RECORD))
            .key("subscription_id", s(id))
            .update_expression("SET updated_at = :u")
            .expression_attribute_values(":u", s(&now_rfc3339()))
            .send()
            .await
            .map_err(aws)?;
        Ok(Some((subscription, secret)))
    }

    /// What Secrets Manager holds for a subscription.
    pub async fn stored_secret(&self, id: &str) -> Result<StoredSecret, StoreError> {
        let value = self
            .secrets
            .get_secret_value()
            .secret_id(self.secret_name(id))
            .send()
            .await
            .map_err(aws)?;
        Ok(StoredSecret::parse(
            value.secret_string().unwrap_or_default(),
        ))
    }

    /// Writes one attempt to the delivery log.
    pub async fn log(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let expires = time::OffsetDateTime::now_utc().unix_timestamp()
            + i64::try_from(LOG_RETENTION.as_secs()).unwrap_or(0);
        let mut put = self
            .dynamo
            .put_item()
            .table_name(&self.deliveries)
            .item("subscription_id", s(&delivery.subscription_id))
            .item("delivery_id", s(&delivery.delivery_id))
            .item("event_id", s(&delivery.event_id))
            .item("event_type", s(&delivery.event_type))
            .item("url", s(&delivery.url))
            .item("attempt", AttributeValue::N(delivery.attempt.to_string()))
            .item("outcome", s(&delivery.outcome))
            .item(
                "duration_ms",
                AttributeValue::N(delivery.duration_ms.to_string()),
            )
            .item("at", s(&delivery.at))
            .item("expires_at", AttributeValue::N(expires.to_string()));
        if let Some(code) = delivery.status_code {
            put = put.item("status_code", AttributeValue::N(code.to_string()));
        }
        if let Some(error) = &delivery.error {
            put = put.item("error", s(error));
        }
        put.send().await.map_err(aws)?;
        Ok(())
    }

    /// Whether the event was already delivered to the subscription.
    pub async fn delivered(&self, event_id: &str, subscription: &str) -> Result<bool, StoreError> {
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
            .map_err(aws)?;
        Ok(output.count() > 0)
    }

    /// A page of a subscription's delivery log, newest first, and the next page's cursor.
    pub async fn deliveries(
        &self,
        subscription: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let mut query = self
            .dynamo
            .query()
            .table_name(&self.deliveries)
            .key_condition_expression("subscription_id = :s")
            .expression_attribute_values(":s", s(subscription))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(cursor) = cursor {
            let key = decode_cursor(cursor)?;
            query = query
                .exclusive_start_key("subscription_id", s(subscription))
                .exclusive_start_key("delivery_id", s(&key));
        }
        let output = query.send().await.map_err(aws)?;
        let items = output.items().iter().filter_map(delivery_of).collect();
        let next = output
            .last_evaluated_key()
            .and_then(|k| text(k, "delivery_id"))
            .map(|k| encode_cursor(&k));
        Ok((items, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(decode_cursor(&encode_cursor(&id)).unwrap(), id);
        assert!(matches!(
            decode_cursor("not a cursor"),
            Err(StoreError::BadCursor)
        ));
        assert!(matches!(
            decode_cursor(&encode_cursor("x")),
            Err(StoreError::BadCursor)
        ));
    }
}
