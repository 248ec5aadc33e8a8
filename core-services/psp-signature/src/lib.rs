//! `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the header Stripe
//! (and the local simulator) signs webhook events with. Verification is constant-time, accepts
//! any `v1` made with any of the endpoint's current secrets (two during a rotation), ignores
//! other schemes (`v0`, test-only), and refuses timestamps more than 300 s from now either way.

use aws_lc_rs::hmac;
use time::OffsetDateTime;

/// The header name.
pub const HEADER: &str = "stripe-signature";
/// The SQS message attribute that carries an event's header from psp-webhook to payments, which
/// verifies it again.
pub const MESSAGE_ATTRIBUTE: &str = "stripe_signature";
/// How far a signature's timestamp may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `t=...,v1=...`.
    #[error("malformed Stripe-Signature header")]
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

fn v1(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex(ctx.sign().as_ref())
}

/// The header value for `body` signed at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", v1(secret, timestamp, body))
}

/// The header value with one `v1` per secret, as Stripe sends it while an endpoint's secret is
/// rolled (the new and the old secret both sign).
pub fn sign_all(secrets: &Secrets, timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in &secrets.0 {
        header.push_str(",v1=");
        header.push_str(&v1(secret, timestamp, body));
    }
    header
}

/// An endpoint's signing secrets: one, or two while it is rolled (Stripe keeps the old secret
/// valid for up to 24 hours). Configured as one string, secrets separated by whitespace or
/// commas (`whsec_new whsec_old`); each is used as the HMAC key as written.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets(Vec<Vec<u8>>);

impl Secrets {
    /// Parses the configured value; `None` when it holds no secret.
    pub fn parse(text: &str) -> Option<Self> {
        let secrets: Vec<Vec<u8>> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        (!secrets.is_empty()).then_some(Self(secrets))
    }

    /// One secret.
    pub fn one(secret: &[u8]) -> Self {
        Self(vec![secret.to_vec()])
    }

    /// How many secrets are configured.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true (a value with no secret does not parse).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets([{} redacted])", self.0.len())
    }
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

/// Checks `header` against `body` at time `now` with one secret; see [`verify_any`].
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<i64, SignatureError> {
    verify_any(&Secrets::one(secret), header, body, now)
}

/// Checks `header` against `body` at time `now` and returns the verified timestamp, the one the
/// signature covers (callers key replays on it, never on the raw header). Several `v1` values may
/// be present (during secret rotation); one match with any of `secrets` suffices. A header with no `t`, more than one
/// `t`, a `t` not in canonical form, an empty part or no `v1` is malformed: an ambiguous header
/// is refused, not interpreted.
pub fn verify_any(
    secrets: &Secrets,
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
    let mut message = timestamp.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    let matched = secrets.0.iter().any(|secret| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        // aws-lc-rs compares in constant time.
        signatures
            .iter()
            .any(|s| hmac::verify(&key, &message, s).is_ok())
    });
    if matched {
        Ok(timestamp)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"id":"evt_test_1","object":"event","type":"payment_intent.succeeded"}"#;
    /// HMAC-SHA256 of `1700000000.` + BODY with `whsec_retail_platform_test`, computed outside
    /// this code (Python's `hmac` and `openssl dgst -sha256 -hmac`, which agree), following
    /// Stripe's "verify webhook signatures manually": signed payload `t + "." + body`.
    const NEW_V1: &str = "3a202b02e268f2f9f0768ccf3604336b43e97a47b1a0d650381c51839daec2b9";
    /// The same with `whsec_retail_platform_old`.
    const OLD_V1: &str = "9306e89d4766df2b09f97877cfdbb76fa08093fc846edf5d99e12f0514a6aef0";

    fn at(t: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn stripes_documented_scheme_matches_an_independent_vector() {
        let new = b"whsec_retail_platform_test";
        assert_eq!(
            sign(new, 1_700_000_000, BODY),
            format!("t=1700000000,v1={NEW_V1}")
        );
        let header = format!(
            "t=1700000000,v1={NEW_V1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
        );
        assert_eq!(
            verify(new, &header, BODY, at(1_700_000_100)),
            Ok(1_700_000_000)
        );
        // 300 s either way, no more.
        assert_eq!(
            verify(new, &header, BODY, at(1_700_000_300)),
            Ok(1_700_000_000)
        );
        assert_eq!(
            verify(new, &header, BODY, at(1_700_000_301)),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(new, &header, BODY, at(1_699_999_699)),
            Err(SignatureError::Stale)
        );
        // A `v0` alone (the test-only scheme) is not a signature: downgrades are refused.
        assert_eq!(
            verify(new, "t=1700000000,v0=abcd", BODY, at(1_700_000_000)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_either_v1() {
        let now = at(1_700_000_000);
        let both = format!("t=1700000000,v1={OLD_V1},v1={NEW_V1}");
        let secrets = Secrets::parse("whsec_retail_platform_test whsec_retail_platform_old");
        let secrets = secrets.unwrap_or_else(|| Secrets::one(b"none"));
        assert_eq!(secrets.len(), 2);
        assert_eq!(format!("{secrets:?}"), "Secrets([2 redacted])");
        assert_eq!(verify_any(&secrets, &both, BODY, now), Ok(1_700_000_000));
        // Only one of the two v1 values is valid for the new secret alone, and that is enough.
        assert_eq!(
            verify(b"whsec_retail_platform_test", &both, BODY, now),
            Ok(1_700_000_000)
        );
        // The old signature alone, against both configured secrets.
        let old_only = format!("t=1700000000,v1={OLD_V1}");
        assert_eq!(
            verify_any(&secrets, &old_only, BODY, now),
            Ok(1_700_000_000)
        );
        // A secret that is no longer configured.
        assert_eq!(
            verify(b"whsec_retail_platform_test", &old_only, BODY, now),
            Err(SignatureError::Mismatch)
        );
        // What both secrets sign together.
        assert_eq!(
            sign_all(&secrets, 1_700_000_000, BODY),
            format!("t=1700000000,v1={NEW_V1},v1={OLD_V1}")
        );
        assert!(Secrets::parse(" , ").is_none());
    }

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
