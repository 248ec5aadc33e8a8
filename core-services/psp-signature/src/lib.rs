//! `Psp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the header the
//! payment provider signs its callbacks with. Verification is constant-time and refuses
//! timestamps outside a tolerance window (replays).

use aws_lc_rs::hmac;
use time::OffsetDateTime;

/// The header name.
pub const HEADER: &str = "psp-signature";
/// How far a signature's timestamp may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `t=...,v1=...`.
    #[error("malformed Psp-Signature header")]
    Malformed,
    /// Timestamp outside the tolerance.
    #[error("signature timestamp outside the {TOLERANCE_SECONDS} s tolerance")]
    Stale,
    /// No `v1` matched.
    #[error("signature does not match")]
    Mismatch,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The header value for `body` signed at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={timestamp},v1={}", hex(ctx.sign().as_ref()))
}

/// Checks `header` against `body` at time `now`. Several `v1` values may be present (during
/// secret rotation); one match suffices.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(unhex(s).ok_or(SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now.unix_timestamp() - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = timestamp.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    if signatures
        .iter()
        .any(|s| hmac::verify(&key, &message, s).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp();
        let header = sign(b"secret", t, br#"{"a":1}"#);
        assert_eq!(verify(b"secret", &header, br#"{"a":1}"#, now), Ok(()));
        assert_eq!(
            verify(b"secret", &header, br#"{"a":2}"#, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, br#"{"a":1}"#, now),
            Err(SignatureError::Mismatch)
        );
        let later = now + time::Duration::seconds(TOLERANCE_SECONDS + 1);
        assert_eq!(
            verify(b"secret", &header, br#"{"a":1}"#, later),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"secret", "v1=zz", b"", now),
            Err(SignatureError::Malformed)
        );
        // Rotation: an old and a new signature side by side.
        let new = sign(b"new", t, b"x");
        let both = format!(
            "{},{}",
            sign(b"old", t, b"x"),
            new.split(',').nth(1).unwrap_or("")
        );
        assert_eq!(verify(b"new", &both, b"x", now), Ok(()));
    }
}
