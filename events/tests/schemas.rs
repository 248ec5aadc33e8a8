//! The committed JSON Schemas match the types, and payloads written by earlier releases still
//! parse.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use events::payloads::{OrderPlaced, PaymentRefunded, StockLow};
use events::{Envelope, payloads};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

#[test]
fn committed_schemas_match_the_types() {
    let generated = payloads::schemas();
    let mut drift = Vec::new();
    for (file, schema) in &generated {
        let expected = format!("{}\n", serde_json::to_string_pretty(schema).unwrap());
        match std::fs::read_to_string(schema_dir().join(file)) {
            Ok(committed) if committed == expected => {}
            Ok(_) => drift.push(format!("{file} differs")),
            Err(_) => drift.push(format!("{file} is missing")),
        }
    }
    let committed = std::fs::read_dir(schema_dir()).unwrap().count();
    assert_eq!(
        committed,
        generated.len(),
        "schemas/ holds files for types that no longer exist"
    );
    assert!(
        drift.is_empty(),
        "run `cargo xtask schemas` and commit: {drift:?}"
    );
    assert_eq!(payloads::types().len(), generated.len());
}

#[test]
fn payloads_from_earlier_releases_still_parse() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let placed = std::fs::read(fixtures.join("order.placed.v1.json")).unwrap();
    let placed = Envelope::<OrderPlaced>::parse(&placed).unwrap();
    assert_eq!(placed.data.lines[0].quantity, 2);
    assert_eq!(
        placed.data.contact.phone, None,
        "an optional field absent in old payloads"
    );
    let refunded = std::fs::read(fixtures.join("payment.refunded.v1.json")).unwrap();
    assert!(
        Envelope::<PaymentRefunded>::parse(&refunded)
            .unwrap()
            .data
            .contact
            .is_none()
    );
    let low = std::fs::read(fixtures.join("stock.low.v1.json")).unwrap();
    assert_eq!(Envelope::<StockLow>::parse(&low).unwrap().data.threshold, 5);
}
