//! # psp-webhook
//!
//! The payment provider's callbacks arrive at this function's URL. A callback is accepted only
//! with a valid `Psp-Signature` (HMAC-SHA256 over `t.body` with the shared secret, timestamp
//! within five minutes); it is then put, unchanged, on the `payments-psp-callbacks` SQS queue,
//! which payments consumes. The provider gets 202 once the message is queued (and retries on
//! anything else); a bad signature is 401, a malformed body 400, both as
//! `application/problem+json`.

use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::json;

/// Environment variables the function reads.
pub mod env {
    /// ARN (or name) of the secret holding the provider's signing secret.
    pub const SECRET_ARN: &str = "PSP_WEBHOOK_SECRET_ARN";
    /// The queue callbacks go to.
    pub const QUEUE_URL: &str = "PSP_CALLBACKS_QUEUE_URL";
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

/// The receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// Queue URL.
    pub queue_url: String,
    /// The signing secret.
    pub secret: Vec<u8>,
}

impl Receiver {
    /// Reads the secret from Secrets Manager.
    pub async fn new(
        config: &aws_config::SdkConfig,
        secret_id: &str,
        queue_url: &str,
    ) -> anyhow::Result<Self> {
        let secrets = aws_sdk_secretsmanager::Client::new(config);
        let value = secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
            })?;
        let secret = value
            .secret_string()
            .ok_or_else(|| anyhow::anyhow!("secret {secret_id} has no string value"))?
            .as_bytes()
            .to_vec();
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(config),
            queue_url: queue_url.to_owned(),
            secret,
        })
    }

    /// Verifies and queues one callback.
    pub async fn receive(&self, signature: Option<&str>, body: &[u8]) -> Answer {
        let Some(signature) = signature else {
            return problem(401, "Unauthorized", "missing Psp-Signature");
        };
        if let Err(err) = psp_signature::verify(
            &self.secret,
            signature,
            body,
            time::OffsetDateTime::now_utc(),
        ) {
            tracing::warn!(error = %err, "refused a callback");
            return problem(401, "Unauthorized", &err.to_string());
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return problem(400, "Bad Request", "the body is not UTF-8");
        };
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(text);
        let Some(authorization) = parsed
            .ok()
            .and_then(|v| v["authorization"].as_str().map(str::to_owned))
        else {
            return problem(
                400,
                "Bad Request",
                "the body is not a callback (no `authorization`)",
            );
        };
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(signature)
            .build();
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(text);
        if let Ok(attribute) = attribute {
            // Kept so payments can verify again before acting.
            send = send.message_attributes("psp_signature", attribute);
        }
        match send.send().await {
            Ok(_) => Answer {
                status: 202,
                body: json!({"accepted": authorization}).to_string(),
                content_type: "application/json",
            },
            Err(err) => {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(err), "could not queue a callback");
                problem(503, "Service Unavailable", "try again")
            }
        }
    }
}
