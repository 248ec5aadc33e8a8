//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "<webhook-id>.<webhook-timestamp>.<body>">` with the endpoint's secret (`whsec_<base64>`).

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The secret's prefix.
pub const SECRET_PREFIX: &str = "whsec_";

/// The key bytes of a `whsec_...` secret (a secret without the prefix is used as is).
pub fn key_bytes(secret: &str) -> anyhow::Result<Vec<u8>> {
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(encoded) => Ok(STANDARD.decode(encoded)?),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// The `webhook-signature` header value.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

/// A new random secret, `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness available"))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// What Secrets Manager holds for an endpoint: the current secret and, for a while after a
/// rotation, the previous one, so that partners can switch without missing a delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSecret {
    /// The secret deliveries are signed with.
    pub current: String,
    /// The secret before the last rotation, still signed with until `previous_until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Unix time after which `previous` is no longer used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<i64>,
}

impl StoredSecret {
    /// Reads a stored value: the JSON form, or a bare `whsec_...` secret.
    pub fn parse(value: &str) -> Self {
        serde_json::from_str(value).unwrap_or_else(|_| Self {
            current: value.trim().to_owned(),
            previous: None,
            previous_until: None,
        })
    }

    /// The keys to sign with at unix time `now`, current first.
    pub fn keys(&self, now: i64) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut keys = vec![key_bytes(&self.current)?];
        if let (Some(previous), Some(until)) = (&self.previous, self.previous_until)
            && now < until
        {
            keys.push(key_bytes(previous)?);
        }
        Ok(keys)
    }
}

/// The `webhook-signature` header value with one signature per key, space-separated, as the
/// specification allows during a rotation.
pub fn sign_all(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| sign(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any `v1,` signature in `header` matches (what a receiver does).
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = sign(key, id, timestamp, body);
    header.split(' ').any(|candidate| {
        aws_lc_rs::constant_time::verify_slices_are_equal(candidate.as_bytes(), expected.as_bytes())
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_example_verifies() {
        // The example from the Standard Webhooks specification.
        let key = key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
            &signature
        ));
        assert!(!verify(&key, "msg_other", 1_614_265_330, body, &signature));
    }

    #[test]
    fn after_a_rotation_both_secrets_verify_until_the_grace_period_ends() {
        let stored = StoredSecret {
            current: generate_secret().unwrap(),
            previous: Some(generate_secret().unwrap()),
            previous_until: Some(1_000),
        };
        let reread = StoredSecret::parse(&serde_json::to_string(&stored).unwrap());
        assert_eq!(reread, stored);
        let header = sign_all(&stored.keys(999).unwrap(), "msg_1", 5, b"{}");
        for secret in [&stored.current, stored.previous.as_ref().unwrap()] {
            assert!(verify(
                &key_bytes(secret).unwrap(),
                "msg_1",
                5,
                b"{}",
                &header
            ));
        }
        let later = sign_all(&stored.keys(1_000).unwrap(), "msg_1", 5, b"{}");
        let previous = key_bytes(stored.previous.as_ref().unwrap()).unwrap();
        assert!(!verify(&previous, "msg_1", 5, b"{}", &later));
        assert_eq!(StoredSecret::parse("whsec_abc").current, "whsec_abc");
        assert_ne!(generate_secret().unwrap(), generate_secret().unwrap());
    }
}
