//! Idempotency claims in DynamoDB: before acting on an event, a function claims
//! `<event id>#<action>` with a conditional write. A claim that is `done` means the action
//! happened; one `in_progress` and older than the lease belongs to a crashed attempt and may be
//! taken over. Items expire through the table's TTL attribute `expires_at`.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

/// How a claim went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours: act, then [`Claims::done`] (or [`Claims::release`] on failure).
    Acquired,
    /// Already done, or another attempt is acting right now: do nothing.
    Taken,
}

/// Claims in one table, keyed by a string attribute (`<event id>#<action>`).
#[derive(Debug, Clone)]
pub struct Claims {
    client: aws_sdk_dynamodb::Client,
    table: String,
    key: String,
    lease: Duration,
    keep: Duration,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Claims {
    /// Claims in `table` keyed by `key_attribute`; a claim not finished within `lease` may be
    /// retaken; done claims are kept for `keep` (longer than any redelivery).
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: &str,
        key_attribute: &str,
        lease: Duration,
        keep: Duration,
    ) -> Self {
        Self {
            client,
            table: table.to_owned(),
            key: key_attribute.to_owned(),
            lease,
            keep,
        }
    }

    /// Tries to claim `key`.
    pub async fn claim(&self, key: &str) -> anyhow::Result<Claim> {
        let now = now();
        let stale = now - i64::try_from(self.lease.as_secs()).unwrap_or(i64::MAX);
        let expires = now + i64::try_from(self.keep.as_secs()).unwrap_or(0);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(&self.key, AttributeValue::S(key.to_owned()))
            .item("state", AttributeValue::S("in_progress".into()))
            .item("claimed_at", AttributeValue::N(now.to_string()))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            // The key attribute is configuration (a table's key name), never input.
            .condition_expression(format!(
                "attribute_not_exists({}) OR (#s = :busy AND claimed_at < :stale)",
                self.key
            ))
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":busy", AttributeValue::S("in_progress".into()))
            .expression_attribute_values(":stale", AttributeValue::N(stale.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(err) => {
                let service = err.into_service_error();
                if service.is_conditional_check_failed_exception() {
                    Ok(Claim::Taken)
                } else {
                    Err(anyhow::anyhow!(
                        aws_sdk_dynamodb::error::DisplayErrorContext(service).to_string()
                    ))
                }
            }
        }
    }

    /// Marks `key` done: redeliveries will skip it.
    pub async fn done(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(&self.key, AttributeValue::S(key.to_owned()))
            .update_expression("SET #s = :done")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(())
    }

    /// Gives `key` back after a failed attempt, so a redelivery can act.
    pub async fn release(&self, key: &str) {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(&self.key, AttributeValue::S(key.to_owned()))
            .send()
            .await;
        if let Err(err) = deleted {
            tracing::warn!(key, error = %aws_sdk_dynamodb::error::DisplayErrorContext(err), "could not release a claim; it lapses after the lease");
        }
    }
}
