//! # notifier
//!
//! A Lambda function fed by the `notifier` SQS queue (raw SNS delivery, filtered to
//! `order.confirmed`, `order.cancelled`, `order.shipped`, `payment.refunded` and the account
//! events `user.registered`, `user.registration_attempted`, `user.password_reset_requested`,
//! `user.password_changed`). Each order event becomes an email through SES v2 (text and HTML in
//! the customer's locale) when the customer wants email, and an SMS through SNS when they opted
//! in and gave a phone number. Account events always become an email (they are about the
//! account, not news): the single-use token they carry sealed is opened with the account token
//! key (from Secrets Manager, shared with the users service) and put into a link under
//! `ACCOUNT_LINK_BASE_URL`. Each channel is claimed per event id in DynamoDB first, so a
//! redelivered event never sends twice. The batch answer lists only the records that failed.

pub mod messages;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use events::payloads::{
    AccountHolder, Contact, OrderCancelled, OrderConfirmed, OrderShipped, PaymentRefunded,
    UserPasswordChanged, UserPasswordResetRequested, UserRegistered, UserRegistrationAttempted,
};
use events::sealed::SealKey;
use events::{Attributes, Envelope, Event};
use function_kit::batch::{self, RecordError};
use function_kit::idempotency::{Claim, Claims};
use std::sync::Arc;
use time::OffsetDateTime;

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
    /// Opens account tokens and builds account links.
    pub accounts: Arc<AccountLinks>,
}

/// What account emails need: the key that opens their tokens and where the links point.
#[derive(Debug)]
pub struct AccountLinks {
    key: SealKey,
    base_url: String,
}

impl AccountLinks {
    /// Opens tokens with `key` (shared with the users service) and points links under
    /// `base_url`, the shop's account pages, e.g. `https://shop.example.com/account`: links
    /// are `<base>/verify-email?token=…`, `<base>/reset-password?token=…` and
    /// `<base>/forgot-password`.
    pub fn new(key: SealKey, base_url: &str) -> Self {
        Self {
            key,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Reads the key from Secrets Manager (`secret_id`, an ARN or name).
    pub async fn load(
        config: &aws_config::SdkConfig,
        secret_id: &str,
        base_url: &str,
    ) -> anyhow::Result<Self> {
        let key = function_kit::aws::secret_string(config, secret_id).await?;
        Ok(Self::new(SealKey::from_base64(&key)?, base_url))
    }

    fn link(&self, page: &str, token: Option<&str>) -> String {
        match token {
            Some(token) => format!("{}/{page}?token={token}", self.base_url),
            None => format!("{}/{page}", self.base_url),
        }
    }

    /// Opens the sealed token of an `event_type` event about `user_id` into a link to `page`.
    fn token_link(
        &self,
        page: &str,
        sealed: &str,
        event_type: &str,
        user_id: &str,
    ) -> Result<String, RecordError> {
        let token = self
            .key
            .open(sealed, event_type, user_id)
            .map_err(|e| RecordError::Unprocessable(e.to_string()))?;
        Ok(self.link(page, Some(&token)))
    }
}

/// `2026-12-07 10:30 UTC`.
fn until(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

fn account_contact(holder: AccountHolder) -> Contact {
    Contact {
        email: holder.email,
        phone: None,
        name: holder.name,
        locale: holder.locale,
        notify_email: true,
        notify_sms: false,
    }
}

/// An email the notifier sends for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The send-once claim in the idempotency table: `<event id>#email`.
    pub claim: String,
    /// The recipient.
    pub to: String,
    /// Subject, in the recipient's locale.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// An SMS the notifier sends for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// The send-once claim in the idempotency table: `<event id>#sms`.
    pub claim: String,
    /// The phone number (E.164).
    pub to: String,
    /// The text (at most 160 characters).
    pub text: String,
}

/// What one record makes the notifier send, decided by [`plan`] before any AWS call; the
/// handler then sends each message once (claimed per event id, so a redelivered event sends
/// nothing more).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The email, when the contact wants email (account emails always go out).
    pub email: Option<Email>,
    /// The SMS, when the contact opted in and gave a phone number.
    pub sms: Option<Sms>,
}

impl Plan {
    /// Whether nothing is to be sent.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.sms.is_none()
    }
}

fn unprocessable(err: impl std::fmt::Display) -> RecordError {
    RecordError::Unprocessable(err.to_string())
}

/// Decides what `record` makes the notifier send, without any AWS call: the body is the event
/// itself (SNS raw message delivery), an account event's sealed token is opened with
/// `accounts` into its link, and the message is rendered in the contact's locale. Event types
/// that are not notifications, and events without contact details, plan nothing. A body that
/// is not such an event, or a token that does not open, is [`RecordError::Unprocessable`].
pub fn plan(record: &SqsMessage, accounts: &AccountLinks) -> Result<Plan, RecordError> {
    let body = record.body.as_deref().unwrap_or_default().as_bytes();
    let attributes = Attributes::peek(body).map_err(unprocessable)?;
    let (notice, contact) = match attributes.event_type.as_str() {
        OrderConfirmed::TYPE => {
            let e = Envelope::<OrderConfirmed>::parse(body)
                .map_err(unprocessable)?
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
            let e = Envelope::<OrderCancelled>::parse(body)
                .map_err(unprocessable)?
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
            let e = Envelope::<OrderShipped>::parse(body)
                .map_err(unprocessable)?
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
            let e = Envelope::<PaymentRefunded>::parse(body)
                .map_err(unprocessable)?
                .data;
            (
                Notice::Refunded {
                    order_id: e.order_id,
                    amount: e.amount,
                },
                e.contact,
            )
        }
        UserRegistered::TYPE => {
            let e = Envelope::<UserRegistered>::parse(body)
                .map_err(unprocessable)?
                .data;
            let (Some(sealed), Some(expires)) = (&e.verification, e.verification_expires_at) else {
                tracing::info!(event = %attributes.id, "no verification link; nothing to send");
                return Ok(Plan::default());
            };
            let link =
                accounts.token_link("verify-email", sealed, UserRegistered::TYPE, &e.user_id)?;
            (
                Notice::VerifyEmail {
                    link,
                    until: until(expires),
                },
                Some(account_contact(AccountHolder {
                    name: e.name.unwrap_or_default(),
                    user_id: e.user_id,
                    email: e.email,
                    locale: e.locale,
                })),
            )
        }
        UserRegistrationAttempted::TYPE => {
            let e = Envelope::<UserRegistrationAttempted>::parse(body)
                .map_err(unprocessable)?
                .data;
            (
                Notice::RegistrationAttempted {
                    reset_link: accounts.link("forgot-password", None),
                },
                Some(account_contact(e.account)),
            )
        }
        UserPasswordResetRequested::TYPE => {
            let e = Envelope::<UserPasswordResetRequested>::parse(body)
                .map_err(unprocessable)?
                .data;
            let link = accounts.token_link(
                "reset-password",
                &e.token,
                UserPasswordResetRequested::TYPE,
                &e.account.user_id,
            )?;
            (
                Notice::ResetPassword {
                    link,
                    until: until(e.expires_at),
                },
                Some(account_contact(e.account)),
            )
        }
        UserPasswordChanged::TYPE => {
            let e = Envelope::<UserPasswordChanged>::parse(body)
                .map_err(unprocessable)?
                .data;
            (
                Notice::PasswordChanged {
                    reset_link: accounts.link("forgot-password", None),
                },
                Some(account_contact(e.account)),
            )
        }
        other => {
            // The subscription filter should keep these away; nothing to send.
            tracing::info!(event_type = other, "not a notification event");
            return Ok(Plan::default());
        }
    };
    let Some(contact) = contact else {
        tracing::info!(event = %attributes.id, "no contact details; nothing to send");
        return Ok(Plan::default());
    };
    let rendered = render(&notice, &contact);
    let email = if contact.notify_email {
        Some(Email {
            claim: format!("{}#email", attributes.id),
            to: contact.email,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        })
    } else {
        None
    };
    let sms = match (contact.notify_sms, contact.phone) {
        (true, Some(phone)) => Some(Sms {
            claim: format!("{}#sms", attributes.id),
            to: phone,
            text: rendered.sms,
        }),
        _ => None,
    };
    Ok(Plan { email, sms })
}

/// Environment variables the function reads.
pub const SENDER_ENV: &str = "EMAIL_FROM";
/// The claims table.
pub const TABLE_ENV: &str = "IDEMPOTENCY_TABLE";
/// The Secrets Manager secret (ARN or name) holding the account token key.
pub const ACCOUNT_KEY_ENV: &str = "ACCOUNT_TOKEN_KEY_SECRET_ARN";
/// The base URL of account links.
pub const ACCOUNT_LINK_ENV: &str = "ACCOUNT_LINK_BASE_URL";

impl Notifier {
    /// From an AWS configuration, a claims table, a sender and the account link settings.
    pub fn new(
        config: &aws_config::SdkConfig,
        table: &str,
        sender: &str,
        accounts: AccountLinks,
    ) -> Self {
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
            accounts: Arc::new(accounts),
        }
    }

    /// Handles a batch.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::process(event, |record| self.record(record)).await
    }

    async fn record(&self, record: SqsMessage) -> Result<(), RecordError> {
        let planned = plan(&record, &self.accounts)?;
        if let Some(email) = &planned.email {
            self.once(&email.claim, || self.email(email)).await?;
        }
        if let Some(sms) = &planned.sms {
            self.once(&sms.claim, || self.sms(&sms.to, &sms.text))
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

    async fn email(&self, email: &Email) -> anyhow::Result<()> {
        let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
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
