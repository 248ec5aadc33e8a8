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

/// The canonical spelling of a timestamp: decimal digits, no sign, no leading zero (but `0`
/// itself). Anything else (`+17…`, `017…`, ` 17…`) is refused rather than read as the same number,
/// so one signed callback has exactly one header spelling of its time.
fn canonical_timestamp(text: &str) -> Option<i64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let padded = text.len() > 1 && text.starts_with('0');
    if !digits || padded {
        return None;
    }
    text.parse().ok()
}

/// Checks `header` against `body` at time `now` and returns the verified timestamp, the one the
/// signature covers (callers key replays on it, never on the raw header). Several `v1` values may
/// be present (during secret rotation); one match suffices. A header with no `t`, more than one
/// `t`, a `t` not in canonical form, an empty part or no `v1` is malformed: an ambiguous header
/// is refused, not interpreted.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(canonical_timestamp(t).ok_or(SignatureError::Malformed)?);
            }
            Some(("v1", s)) => signatures.push(unhex(s).ok_or(SignatureError::Malformed)?),
            // Other schemes (a future `v2`) are skipped, as the header's format allows.
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains(char::is_whitespace) => {}
            _ => return Err(SignatureError::Malformed),
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
        Ok(timestamp)
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
        assert_eq!(verify(b"secret", &header, br#"{"a":1}"#, now), Ok(t));
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
        assert_eq!(verify(b"new", &both, b"x", now), Ok(t));
    }

    /// One signed callback has one header spelling: any other spelling of the same signature
    /// (a second `t`, a padded or signed `t`, stray parts) is refused, so a replay cannot be
    /// dressed up as a new callback.
    #[test]
    fn ambiguous_headers_are_refused() {
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp();
        let header = sign(b"secret", t, b"x");
        let v1 = header.split(',').nth(1).unwrap_or("");
        for spelling in [
            format!("t={},t={t},{v1}", t - 1),
            format!("t={t},t={t},{v1}"),
            format!("t=0{t},{v1}"),
            format!("t=+{t},{v1}"),
            format!("t= {t},{v1}"),
            format!(" t={t},{v1}"),
            format!("t={t},,{v1}"),
            format!("t={t},{v1},"),
            format!("t={t},junk,{v1}"),
            format!("t=,{v1}"),
            format!("t={t}"),
        ] {
            assert_eq!(
                verify(b"secret", &spelling, b"x", now),
                Err(SignatureError::Malformed),
                "{spelling}"
            );
        }
        // Other schemes next to v1 are allowed and ignored.
        assert_eq!(
            verify(b"secret", &format!("{header},v0=abc"), b"x", now),
            Ok(t)
        );
    }
}
