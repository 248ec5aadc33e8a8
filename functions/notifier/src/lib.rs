//! # notifier
//!
//! A Lambda function fed by the `notifier` SQS queue (raw SNS delivery, filtered to
//! `order.confirmed`, `order.cancelled`, `order.shipped`, `payment.refunded`). Each event becomes
//! an email through SES v2 (text and HTML in the customer's locale) when the customer wants
//! email, and an SMS through SNS when they opted in and gave a phone number. Each channel is
//! claimed per event id in DynamoDB first, so a redelivered event never sends twice. The batch
//! answer lists only the records that failed.

pub mod messages;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use events::payloads::{Contact, OrderCancelled, OrderConfirmed, OrderShipped, PaymentRefunded};
use events::{Attributes, Envelope, Event};
use function_kit::batch::{self, RecordError};
use function_kit::idempotency::{Claim, Claims};

use crate::messages::{Notice, render};

/// What the function needs.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// SES v2.
    pub ses: aws_sdk_sesv2::Client,
    /// SNS (SMS).
    pub sns: aws_sdk_sns::Client,
    /// Send-once claims.
    pub claims: Claims,
    /// The verified sender address.
    pub sender: String,
}

/// Environment variables the function reads.
pub const SENDER_ENV: &str = "EMAIL_FROM";
/// The claims table.
pub const TABLE_ENV: &str = "IDEMPOTENCY_TABLE";

impl Notifier {
    /// From an AWS configuration, a claims table and a sender.
    pub fn new(config: &aws_config::SdkConfig, table: &str, sender: &str) -> Self {
        Self {
            ses: aws_sdk_sesv2::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            claims: Claims::new(
                aws_sdk_dynamodb::Client::new(config),
                table,
                "event_id",
                Duration::from_secs(120),
                Duration::from_secs(14 * 24 * 3600),
            ),
            sender: sender.to_owned(),
        }
    }

    /// Handles a batch.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::process(event, |record| self.record(record)).await
    }

    fn unprocessable(err: impl std::fmt::Display) -> RecordError {
        RecordError::Unprocessable(err.to_string())
    }

    async fn record(&self, record: SqsMessage) -> Result<(), RecordError> {
        let body = record.body.unwrap_or_default();
        let attributes = Attributes::peek(body.as_bytes()).map_err(Self::unprocessable)?;
        let (notice, contact) = match attributes.event_type.as_str() {
            OrderConfirmed::TYPE => {
                let e = Envelope::<OrderConfirmed>::parse(body.as_bytes())
                    .map_err(Self::unprocessable)?
                    .data;
                (
                    Notice::Confirmed {
                        order_id: e.order_id,
                        total: e.total,
                    },
                    Some(e.contact),
                )
            }
            OrderCancelled::TYPE => {
                let e = Envelope::<OrderCancelled>::parse(body.as_bytes())
                    .map_err(Self::unprocessable)?
                    .data;
                (
                    Notice::Cancelled {
                        order_id: e.order_id,
                        reason: e.reason,
                    },
                    Some(e.contact),
                )
            }
            OrderShipped::TYPE => {
                let e = Envelope::<OrderShipped>::parse(body.as_bytes())
                    .map_err(Self::unprocessable)?
                    .data;
                (
                    Notice::Shipped {
                        order_id: e.order_id,
                        carrier: e.carrier,
                        tracking: e.tracking_number,
                    },
                    Some(e.contact),
                )
            }
            PaymentRefunded::TYPE => {
                let e = Envelope::<PaymentRefunded>::parse(body.as_bytes())
                    .map_err(Self::unprocessable)?
                    .data;
                (
                    Notice::Refunded {
                        order_id: e.order_id,
                        amount: e.amount,
                    },
                    e.contact,
                )
            }
            other => {
                // The subscription filter should keep these away; nothing to send.
                tracing::info!(event_type = other, "not a notification event");
                return Ok(());
            }
        };
        let Some(contact) = contact else {
            tracing::info!(event = %attributes.id, "no contact details; nothing to send");
            return Ok(());
        };
        let rendered = render(&notice, &contact);
        if contact.notify_email {
            self.once(&format!("{}#email", attributes.id), || {
                self.email(&contact, &rendered)
            })
            .await?;
        }
        if let (true, Some(phone)) = (contact.notify_sms, contact.phone.as_deref()) {
            self.once(&format!("{}#sms", attributes.id), || {
                self.sms(phone, &rendered.sms)
            })
            .await?;
        }
        Ok(())
    }

    /// Runs `send` unless `key` was already done (or is being done right now).
    async fn once<F, Fut>(&self, key: &str, send: F) -> Result<(), RecordError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        match self
            .claims
            .claim(key)
            .await
            .map_err(|e| RecordError::Retryable(e.to_string()))?
        {
            Claim::Taken => Ok(()),
            Claim::Acquired => match send().await {
                Ok(()) => self
                    .claims
                    .done(key)
                    .await
                    .map_err(|e| RecordError::Retryable(e.to_string())),
                Err(err) => {
                    self.claims.release(key).await;
                    Err(RecordError::Retryable(err.to_string()))
                }
            },
        }
    }

    async fn email(&self, contact: &Contact, rendered: &messages::Rendered) -> anyhow::Result<()> {
        let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
        let message = Message::builder()
            .subject(content(&rendered.subject)?)
            .body(
                Body::builder()
                    .text(content(&rendered.text)?)
                    .html(content(&rendered.html)?)
                    .build(),
            )
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(&contact.email).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(())
    }

    async fn sms(&self, phone: &str, text: &str) -> anyhow::Result<()> {
        self.sns
            .publish()
            .phone_number(phone)
            .message(text)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
