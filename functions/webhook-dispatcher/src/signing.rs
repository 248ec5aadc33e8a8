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
}
