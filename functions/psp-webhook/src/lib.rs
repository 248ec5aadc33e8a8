//! # psp-webhook
//!
//! Stripe's webhook events arrive at this function's URL (the endpoint configured in Stripe's
//! Dashboard). An event is accepted only with a valid `Stripe-Signature` (HMAC-SHA256 over
//! `t.body`, timestamp within five minutes, any `v1` matching any of the endpoint's secrets:
//! two while a secret is rolled); it is then put, unchanged, on the `payments-psp-callbacks` SQS
//! queue, with its signature, and payments applies it once by event id. Stripe gets 202 once
//! the message is queued (and retries on anything else); a bad signature is 401, a body that is
//! not an event 400, a replay of a delivery already accepted 409, all as
//! `application/problem+json`.
//!
//! Replays: a signed delivery is valid for five minutes, so a captured one could be sent again
//! within that window. Each accepted delivery (its signed timestamp and body) is claimed in a
//! DynamoDB table for longer than the window; a second claim is refused. Stripe's own retries
//! are signed anew (another timestamp), so they are not replays; payments applies each event
//! once anyway, by its id.

use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::json;

/// Environment variables the function reads.
pub mod env {
    /// ARN (or name) of the secret holding the endpoint's signing secret (`whsec_...`; two,
    /// separated by a space, while it is rolled).
    pub const SECRET_ARN: &str = "PSP_WEBHOOK_SECRET_ARN";
    /// The queue events go to.
    pub const QUEUE_URL: &str = "PSP_CALLBACKS_QUEUE_URL";
    /// The DynamoDB table of deliveries already accepted (replay protection).
    pub const REPLAY_TABLE: &str = "REPLAY_TABLE";
}

/// How long an accepted delivery is remembered: longer than the signature tolerance, after
/// which a replay fails the timestamp check anyway.
pub const REMEMBER: std::time::Duration =
    std::time::Duration::from_secs(2 * psp_signature::TOLERANCE_SECONDS.unsigned_abs());

/// The replay key of a verified delivery: SHA-256 of the timestamp its signature covers (as
/// [`psp_signature::verify`] returned it, never a raw header part) and its body.
pub fn replay_key(verified_timestamp: i64, body: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(verified_timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn read_secrets(
    config: &aws_config::SdkConfig,
    secret_id: &str,
) -> anyhow::Result<psp_signature::Secrets> {
    psp_signature::Secrets::parse(&function_kit::aws::secret_string(config, secret_id).await?)
        .ok_or_else(|| anyhow::anyhow!("the signing secret {secret_id} is empty"))
}

/// What an answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// Content type.
    pub content_type: &'static str,
}

fn problem(status: u16, title: &str, detail: &str) -> Answer {
    Answer {
        status,
        body: json!({
            "type": format!("https://retail-platform.dev/problems/{}", title.to_lowercase().replace(' ', "-")),
            "title": title,
            "status": status,
            "detail": detail,
        })
        .to_string(),
        content_type: "application/problem+json",
    }
}

fn unsigned() -> Answer {
    problem(401, "Unauthorized", "missing Stripe-Signature")
}

fn refused(err: &psp_signature::SignatureError) -> Answer {
    tracing::warn!(error = %err, "refused a webhook delivery");
    problem(401, "Unauthorized", &err.to_string())
}

/// A delivery that passed every check needing no AWS call: what [`Receiver::receive`] then
/// claims (replay protection) and queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The Stripe event id (`evt_...`).
    pub event_id: String,
    /// The timestamp the signature covers.
    pub timestamp: i64,
    /// The replay claim ([`replay_key`]).
    pub replay_key: String,
    /// The message body queued for payments: the event, unchanged.
    pub body: String,
    /// The `Stripe-Signature` header, queued with it as the
    /// [`psp_signature::MESSAGE_ATTRIBUTE`] attribute so payments can verify it again.
    pub signature: String,
}

impl Delivery {
    /// The answer once the delivery is queued: 202 naming the event.
    pub fn accepted(&self) -> Answer {
        Answer {
            status: 202,
            body: json!({"accepted": self.event_id}).to_string(),
            content_type: "application/json",
        }
    }
}

/// The body checks of a delivery whose signature verified at `timestamp`: UTF-8, and a Stripe
/// event (`object: event` with an `evt_` id and a `type`); otherwise a 400 answer.
fn delivery(signature: &str, timestamp: i64, body: &[u8]) -> Result<Delivery, Answer> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(problem(400, "Bad Request", "the body is not UTF-8"));
    };
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(text);
    let event = parsed.ok().and_then(|v| {
        let id = v["id"].as_str()?.to_owned();
        let kind = v["type"].as_str()?;
        (v["object"] == "event" && id.starts_with("evt_") && !kind.is_empty()).then_some(id)
    });
    let Some(event_id) = event else {
        return Err(problem(
            400,
            "Bad Request",
            "the body is not a Stripe event (`object: event` with an `evt_` id and a `type`)",
        ));
    };
    Ok(Delivery {
        event_id,
        timestamp,
        replay_key: replay_key(timestamp, body),
        body: text.to_owned(),
        signature: signature.to_owned(),
    })
}

/// The checks of a delivery that need no AWS call, with the endpoint's `secrets` at time
/// `now`: a signature must be present and valid (401), the body must be a Stripe event (400).
/// Either the delivery to claim and queue, or the answer. [`Receiver::receive`] makes the same
/// checks, reading the secret again when a signature matches none of those it holds.
pub fn check(
    secrets: &psp_signature::Secrets,
    signature: Option<&str>,
    body: &[u8],
    now: time::OffsetDateTime,
) -> Result<Delivery, Answer> {
    let signature = signature.ok_or_else(unsigned)?;
    let timestamp =
        psp_signature::verify_any(secrets, signature, body, now).map_err(|e| refused(&e))?;
    delivery(signature, timestamp, body)
}

/// How often, at most, a signature that matches no known secret makes the function read the
/// secret again (it may have been rolled since this instance started).
pub const SECRET_REREAD: std::time::Duration = std::time::Duration::from_secs(60);

/// The endpoint's signing secrets, as last read from Secrets Manager.
#[derive(Debug)]
struct Signing {
    secrets: psp_signature::Secrets,
    read_at: std::time::Instant,
}

/// The receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// Queue URL.
    pub queue_url: String,
    /// Secrets Manager, to read the signing secret again after a rotation.
    secrets_manager: aws_config::SdkConfig,
    secret_id: String,
    signing: std::sync::Arc<tokio::sync::RwLock<Signing>>,
    reread: std::time::Duration,
    /// Callbacks already accepted.
    pub seen: function_kit::idempotency::Claims,
}

impl Receiver {
    /// Reads the secret from Secrets Manager.
    pub async fn new(
        config: &aws_config::SdkConfig,
        secret_id: &str,
        queue_url: &str,
        replay_table: &str,
    ) -> anyhow::Result<Self> {
        let secrets = read_secrets(config, secret_id).await?;
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(config),
            queue_url: queue_url.to_owned(),
            secrets_manager: config.clone(),
            secret_id: secret_id.to_owned(),
            signing: std::sync::Arc::new(tokio::sync::RwLock::new(Signing {
                secrets,
                read_at: std::time::Instant::now(),
            })),
            reread: SECRET_REREAD,
            seen: function_kit::idempotency::Claims::new(
                aws_sdk_dynamodb::Client::new(config),
                replay_table,
                "callback_id",
                std::time::Duration::from_secs(30),
                REMEMBER,
            ),
        })
    }

    /// The same receiver, reading the secret again at most every `interval` (tests).
    #[must_use]
    pub fn reread_after(mut self, interval: std::time::Duration) -> Self {
        self.reread = interval;
        self
    }

    /// Verifies a signature with the secrets held, and when none matches, with the secrets read
    /// again (at most once per [`SECRET_REREAD`]): after a rotation a warm instance still holds
    /// the old secret, and Stripe stops signing with it after 24 hours.
    async fn verify(
        &self,
        signature: &str,
        body: &[u8],
    ) -> Result<i64, psp_signature::SignatureError> {
        let now = time::OffsetDateTime::now_utc();
        let (verified, read_at) = {
            let signing = self.signing.read().await;
            (
                psp_signature::verify_any(&signing.secrets, signature, body, now),
                signing.read_at,
            )
        };
        if verified != Err(psp_signature::SignatureError::Mismatch)
            || read_at.elapsed() < self.reread
        {
            return verified;
        }
        let mut signing = self.signing.write().await;
        if signing.read_at == read_at {
            signing.read_at = std::time::Instant::now();
            match read_secrets(&self.secrets_manager, &self.secret_id).await {
                Ok(secrets) => {
                    tracing::info!(secrets = secrets.len(), "read the signing secret again");
                    signing.secrets = secrets;
                }
                Err(err) => tracing::warn!(error = %err, "could not read the signing secret again"),
            }
        }
        psp_signature::verify_any(&signing.secrets, signature, body, now)
    }

    /// Verifies and queues one event.
    pub async fn receive(&self, signature: Option<&str>, body: &[u8]) -> Answer {
        let Some(signature) = signature else {
            return unsigned();
        };
        let timestamp = match self.verify(signature, body).await {
            Ok(timestamp) => timestamp,
            Err(err) => return refused(&err),
        };
        let delivery = match delivery(signature, timestamp, body) {
            Ok(delivery) => delivery,
            Err(answer) => return answer,
        };
        let key = &delivery.replay_key;
        match self.seen.claim(key).await {
            Ok(function_kit::idempotency::Claim::Acquired) => {}
            Ok(function_kit::idempotency::Claim::Taken) => {
                tracing::warn!(event = %delivery.event_id, "refused a replayed delivery");
                return problem(409, "Conflict", "this delivery was already received");
            }
            Err(err) => {
                tracing::error!(error = %err, "could not check for a replay");
                return problem(503, "Service Unavailable", "try again");
            }
        }
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&delivery.signature)
            .build();
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&delivery.body);
        if let Ok(attribute) = attribute {
            // Kept so payments can verify again before acting.
            send = send.message_attributes(psp_signature::MESSAGE_ATTRIBUTE, attribute);
        }
        match send.send().await {
            Ok(_) => {
                if let Err(err) = self.seen.done(key).await {
                    // Queued all the same; the claim lapses after its lease.
                    tracing::warn!(error = %err, "could not record an accepted delivery");
                }
                delivery.accepted()
            }
            Err(err) => {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(err), "could not queue an event");
                self.seen.release(key).await;
                problem(503, "Service Unavailable", "try again")
            }
        }
    }
}
