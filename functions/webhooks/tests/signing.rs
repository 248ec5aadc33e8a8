//! Standard Webhooks signing against a delivery as a partner receives it
//! (`fixtures/delivery.json`: a `stock.low` event signed mid-rotation with both secrets of
//! `fixtures/stored_secret.json`, the endpoint's secret as Secrets Manager holds it). The
//! fixture's signatures were computed outside this code (Python's `hmac`, checked with
//! `openssl dgst -sha256 -mac HMAC`), over `<webhook-id>.<webhook-timestamp>.<body>`.

use serde_json::Value;
use webhooks::signing::{StoredSecret, key_bytes, sign_all, verify};

fn delivery() -> Value {
    serde_json::from_str(include_str!("fixtures/delivery.json")).expect("the fixture is JSON")
}

fn stored() -> StoredSecret {
    StoredSecret::parse(include_str!("fixtures/stored_secret.json"))
}

fn header<'a>(delivery: &'a Value, name: &str) -> &'a str {
    delivery["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn the_stored_secret_signs_exactly_what_the_partner_received() {
    let delivery = delivery();
    let id = header(&delivery, "webhook-id");
    let timestamp: i64 = header(&delivery, "webhook-timestamp")
        .parse()
        .expect("unix seconds");
    let body = delivery["body"].as_str().expect("a body").as_bytes();
    let stored = stored();
    assert!(stored.previous.is_some(), "mid-rotation");
    let keys = stored.keys(timestamp).expect("base64 secrets");
    assert_eq!(
        sign_all(&keys, id, timestamp, body),
        header(&delivery, "webhook-signature"),
        "current first, then the previous secret"
    );
    // The webhook-id is the event id: partners deduplicate on it.
    let event: Value = serde_json::from_slice(body).expect("the body is the event");
    assert_eq!(event["id"], id);
}

#[test]
fn a_partner_verifies_with_either_secret_and_nothing_else() {
    let delivery = delivery();
    let id = header(&delivery, "webhook-id");
    let timestamp: i64 = header(&delivery, "webhook-timestamp")
        .parse()
        .expect("unix seconds");
    let body = delivery["body"].as_str().expect("a body").as_bytes();
    let signature = header(&delivery, "webhook-signature");
    let stored = stored();
    for secret in [Some(&stored.current), stored.previous.as_ref()] {
        let key = key_bytes(secret.expect("stored")).expect("base64");
        assert!(verify(&key, id, timestamp, body, signature));
        assert!(!verify(&key, id, timestamp + 1, body, signature));
        assert!(!verify(&key, "msg_other", timestamp, body, signature));
        let mut tampered = body.to_vec();
        if let Some(last_digit) = tampered.iter_mut().rfind(|b| b.is_ascii_digit()) {
            *last_digit = if *last_digit == b'9' {
                b'0'
            } else {
                *last_digit + 1
            };
        }
        assert!(!verify(&key, id, timestamp, &tampered, signature));
    }
    let stranger = key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("base64");
    assert!(!verify(&stranger, id, timestamp, body, signature));
}

#[test]
fn secrets_are_read_in_either_stored_form() {
    let stored = stored();
    let until = stored.previous_until.expect("a grace period");
    assert_eq!(stored.keys(until - 1).expect("base64").len(), 2);
    assert_eq!(
        stored.keys(until).expect("base64").len(),
        1,
        "the previous secret stops signing when the grace period ends"
    );
    // A bare secret (as created before rotations existed) is the current one.
    let bare = StoredSecret::parse(&format!("{}\n", stored.current));
    assert_eq!(bare.current, stored.current);
    assert_eq!(bare.previous, None);
    assert_eq!(
        serde_json::to_value(&bare).expect("serialises"),
        serde_json::json!({"current": stored.current})
    );
    // A secret that is not base64 after its prefix is refused, not used as raw bytes.
    assert!(StoredSecret::parse("whsec_not base64!").keys(0).is_err());
}
