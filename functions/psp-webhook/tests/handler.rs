//! What psp-webhook answers to Stripe's deliveries as its function URL hands them over
//! (`fixtures/*.json`: Lambda function URL events, payload format 2.0), without AWS:
//! [`psp_webhook::check`] is the part of the handler before the replay claim and the queue.
//! The fixtures carry no `Stripe-Signature`: each test signs the body as Stripe does, with the
//! endpoint's secrets (two while one is rolled) at a fixed time, and checks at the time the
//! request reached the URL.

use lambda_http::Request;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use psp_signature::Secrets;
use psp_webhook::{Answer, Delivery, check, replay_key};
use serde_json::Value;
use time::OffsetDateTime;

const NEW_SECRET: &str = "whsec_8kQ2mVd7RfT4xZp1LcN6yHb3JsW9aEgU";
const OLD_SECRET: &str = "whsec_Ym5Tq0Xv2KdR8pLc4WfA7nZs1HjE6bUo";
const EVENT_ID: &str = "evt_3R2cXkLkdIwHu7ix0Wq4Tz8B";
/// When Stripe signed the delivery: a second before it reached the URL (`timeEpoch`).
const SIGNED_AT: i64 = 1_773_479_701;

fn secrets() -> Secrets {
    Secrets::parse(&format!("{NEW_SECRET} {OLD_SECRET}")).expect("two secrets")
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn succeeded() -> Value {
    fixture(include_str!("fixtures/payment_intent_succeeded.json"))
}

fn body_of(event: &Value) -> String {
    event["body"]
        .as_str()
        .expect("the event has a body")
        .to_owned()
}

/// The event as the runtime hands it to the handler, with `signature` as `Stripe-Signature`.
fn url_event(mut event: Value, signature: Option<&str>) -> (Request, OffsetDateTime) {
    if let Some(signature) = signature {
        event["headers"][psp_signature::HEADER] = Value::from(signature);
    }
    let text = event.to_string();
    let typed: ApiGatewayV2httpRequest =
        serde_json::from_value(event).expect("a function URL event");
    assert!(
        typed
            .request_context
            .domain_name
            .as_deref()
            .is_some_and(|d| d.ends_with(".lambda-url.eu-west-1.on.aws")),
        "{:?}",
        typed.request_context.domain_name
    );
    let received = OffsetDateTime::from_unix_timestamp(typed.request_context.time_epoch / 1000)
        .expect("a valid time");
    let request = lambda_http::request::from_str(&text).expect("lambda_http reads it");
    (request, received)
}

/// What the handler decides for `request` at `now`: the header and body it reads, checked.
fn decide(request: &Request, now: OffsetDateTime) -> Result<Delivery, Answer> {
    let signature = request
        .headers()
        .get(psp_signature::HEADER)
        .and_then(|v| v.to_str().ok());
    check(&secrets(), signature, request.body().as_ref(), now)
}

/// An RFC 9457 problem answer with `status`, as JSON.
fn problem_of(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.content_type, "application/problem+json");
    let problem: Value = serde_json::from_str(&answer.body).expect("a JSON problem");
    assert_eq!(problem["status"], status);
    problem
}

#[test]
fn a_signed_stripe_event_is_accepted_for_queueing_with_its_signature() {
    let event = succeeded();
    let body = body_of(&event);
    // What Stripe sends while the endpoint's secret is rolled: one v1 per secret.
    let signature = psp_signature::sign_all(&secrets(), SIGNED_AT, body.as_bytes());
    assert_eq!(signature.matches(",v1=").count(), 2, "{signature}");
    let (request, now) = url_event(event, Some(&signature));
    let delivery = decide(&request, now).expect("accepted");
    assert_eq!(
        delivery,
        Delivery {
            event_id: EVENT_ID.into(),
            timestamp: SIGNED_AT,
            replay_key: replay_key(SIGNED_AT, body.as_bytes()),
            body: body.clone(),
            signature,
        },
        "queued unchanged, with the header payments verifies again"
    );
    let answer = delivery.accepted();
    assert_eq!(answer.status, 202);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).expect("JSON"),
        serde_json::json!({"accepted": EVENT_ID})
    );

    // Signed with the old secret alone (before Stripe switched): still accepted.
    let old = psp_signature::sign(OLD_SECRET.as_bytes(), SIGNED_AT, body.as_bytes());
    let (request, now) = resent(&old);
    assert_eq!(
        decide(&request, now).map(|d| d.event_id),
        Ok(EVENT_ID.to_owned())
    );
}

/// The same delivery, sent with another `Stripe-Signature`.
fn resent(signature: &str) -> (Request, OffsetDateTime) {
    url_event(succeeded(), Some(signature))
}

#[test]
fn a_stripe_retry_is_a_new_delivery_and_a_replay_is_the_same_one() {
    let body = body_of(&succeeded());
    let first = psp_signature::sign_all(&secrets(), SIGNED_AT, body.as_bytes());
    // Stripe signs each retry anew.
    let retry = psp_signature::sign_all(&secrets(), SIGNED_AT + 60, body.as_bytes());
    let (request, received) = resent(&first);
    let original = decide(&request, received).expect("accepted");
    let (request, _) = resent(&retry);
    let retried = decide(&request, received).expect("accepted");
    assert_ne!(
        original.replay_key, retried.replay_key,
        "a retry is claimed on its own (payments applies the event once by its id)"
    );
    // A captured delivery sent again within the tolerance: the same claim, which the table
    // refuses (409).
    let (request, _) = resent(&first);
    let later = received + time::Duration::seconds(200);
    let replayed = decide(&request, later).expect("the signature still verifies");
    assert_eq!(replayed.replay_key, original.replay_key);
    // Re-spelling the header does not make it a new delivery: it is refused.
    let v1 = first.split(',').nth(1).expect("a v1 part");
    for respelled in [
        format!("t=0{SIGNED_AT},{v1}"),
        format!("t={},t={SIGNED_AT},{v1}", SIGNED_AT - 7),
    ] {
        let (request, now) = resent(&respelled);
        let answer = decide(&request, now).expect_err("refused");
        let problem = problem_of(&answer, 401);
        assert_eq!(problem["detail"], "malformed Stripe-Signature header");
    }
}

#[test]
fn unsigned_forged_stale_and_tampered_deliveries_are_401_problems() {
    let event = succeeded();
    let body = body_of(&event);

    // The fixture as stored carries no signature.
    let (request, now) = url_event(event.clone(), None);
    let problem = problem_of(&decide(&request, now).expect_err("refused"), 401);
    assert_eq!(
        problem["type"],
        "https://retail-platform.dev/problems/unauthorized"
    );
    assert_eq!(problem["title"], "Unauthorized");
    assert_eq!(problem["detail"], "missing Stripe-Signature");

    let forged = psp_signature::sign(b"whsec_guessed", SIGNED_AT, body.as_bytes());
    let (request, now) = url_event(event.clone(), Some(&forged));
    let answer = decide(&request, now).expect_err("refused");
    assert_eq!(
        problem_of(&answer, 401)["detail"],
        "signature does not match"
    );

    let good = psp_signature::sign_all(&secrets(), SIGNED_AT, body.as_bytes());
    for (late, what) in [(301, "too old"), (-301, "from the future")] {
        let (request, received) = url_event(event.clone(), Some(&good));
        let now = received + time::Duration::seconds(late - 1);
        let answer = decide(&request, now).expect_err(what);
        assert_eq!(
            problem_of(&answer, 401)["detail"],
            "signature timestamp outside the 300 s tolerance",
            "{what}"
        );
    }
    // Within the tolerance either way it verifies.
    let (request, received) = url_event(event.clone(), Some(&good));
    assert!(decide(&request, received + time::Duration::seconds(299)).is_ok());

    let mut tampered = event.clone();
    tampered["body"] = Value::from(body.replace("\"amount\": 5998", "\"amount\": 599800"));
    assert_ne!(tampered["body"], event["body"]);
    let (request, now) = url_event(tampered, Some(&good));
    let answer = decide(&request, now).expect_err("refused");
    assert_eq!(
        problem_of(&answer, 401)["detail"],
        "signature does not match"
    );

    let (request, now) = url_event(event, Some("t=1773479701"));
    let answer = decide(&request, now).expect_err("refused");
    assert_eq!(
        problem_of(&answer, 401)["detail"],
        "malformed Stripe-Signature header"
    );
}

#[test]
fn a_signed_body_that_is_not_a_stripe_event_is_a_400_problem() {
    let event = fixture(include_str!("fixtures/not_an_event.json"));
    let body = body_of(&event);
    let signature = psp_signature::sign_all(&secrets(), SIGNED_AT + 62, body.as_bytes());
    let (request, now) = url_event(event, Some(&signature));
    let answer = decide(&request, now).expect_err("refused");
    let problem = problem_of(&answer, 400);
    assert_eq!(
        problem["type"],
        "https://retail-platform.dev/problems/bad-request"
    );
    assert_eq!(problem["title"], "Bad Request");
    assert_eq!(
        problem["detail"],
        "the body is not a Stripe event (`object: event` with an `evt_` id and a `type`)"
    );

    // Bytes that are not UTF-8, validly signed.
    let bytes = [0xff, 0xfe, b'{', b'}'];
    let signature = psp_signature::sign_all(&secrets(), SIGNED_AT, &bytes);
    let answer = check(&secrets(), Some(&signature), &bytes, now).expect_err("refused");
    assert_eq!(problem_of(&answer, 400)["detail"], "the body is not UTF-8");
}
