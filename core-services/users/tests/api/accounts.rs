use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn registration_validates_every_field() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/auth/register",
            json!({"email": "nope", "password": "short", "name": "", "phone": "12"}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "name", "phone"]);

    let user = app
        .register("Alice@Example.com", "correct horse battery")
        .await;
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["roles"], json!(["shopper"]));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = spawn_app().await;
    app.register("bob@example.com", "correct horse battery")
        .await;
    let wrong = problem(
        app.login("bob@example.com", "wrong horse battery").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = problem(
        app.login("nobody@example.com", "wrong horse battery").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    for field in ["type", "title", "status", "detail", "instance"] {
        assert_eq!(wrong[field], unknown[field], "{field}");
    }
    let ok = app.login("BOB@example.com", "correct horse battery").await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_throttle_the_failing_client_not_the_owner() {
    let app = spawn_app().await;
    app.register("carol@example.com", "correct horse battery")
        .await;
    let attacker = "198.51.100.1";
    for _ in 0..app.settings.auth.max_failures_per_client {
        problem(
            app.login_via("carol@example.com", "bad password!", attacker)
                .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // The client that failed is refused for Carol, even with the right password.
    let throttled = app
        .login_via("carol@example.com", "correct horse battery", attacker)
        .await;
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= app.settings.auth.failure_window_seconds);
    problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    // Writing someone else's address first in X-Forwarded-For changes nothing: the address is
    // the one the gateway appended.
    let spoofed = app
        .login_via(
            "carol@example.com",
            "correct horse battery",
            &format!("203.0.113.5, {attacker}"),
        )
        .await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    // Carol herself, from her own address, signs in: others' failures do not lock her out.
    assert_eq!(
        app.login_via("carol@example.com", "correct horse battery", "203.0.113.5")
            .await
            .status(),
        StatusCode::OK
    );
    // Another account from the attacker's address is not locked by Carol's failures.
    app.register("dave@example.com", "correct horse battery")
        .await;
    assert_eq!(
        app.login_via("dave@example.com", "correct horse battery", attacker)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn distributed_guessing_is_slowed_down_and_the_owner_still_signs_in() {
    let app = spawn_app().await;
    app.register("gina@example.com", "correct horse battery")
        .await;
    let after = app.settings.auth.account_slowdown_after;
    // One guess from each of many addresses: no client reaches its own limit.
    for n in 0..after {
        let answer = app
            .login_via(
                "gina@example.com",
                "guess!",
                &format!("198.51.100.{}", n + 10),
            )
            .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    // Past the account's threshold, a wrong answer is held back.
    let started = std::time::Instant::now();
    let late = app
        .login_via("gina@example.com", "guess!", "198.51.100.250")
        .await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "the wrong answer came after {:?}",
        started.elapsed()
    );
    // The owner, from a client that has not failed, is answered and let in.
    assert_eq!(
        app.login_via("gina@example.com", "correct horse battery", "203.0.113.8")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn profiles_and_preferences_belong_to_their_owner() {
    let app = spawn_app().await;
    let erin = app
        .register("erin@example.com", "correct horse battery")
        .await;
    let frank = app
        .register("frank@example.com", "correct horse battery")
        .await;
    let erin_id = erin["id"].as_str().unwrap();
    let frank_id = frank["id"].as_str().unwrap();

    let me: serde_json::Value = app
        .as_user(Method::GET, "/me", erin_id, "shopper")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "erin@example.com");
    let patched = app
        .as_user(Method::PATCH, "/me", erin_id, "shopper")
        .json(&json!({"name": "Erin E.", "phone": "+49 151 1234 5678"}))
        .send()
        .await
        .unwrap();
    let patched: serde_json::Value = patched.json().await.unwrap();
    assert_eq!(patched["phone"], "+4915112345678");

    let prefs = json!({"email_notifications": true, "sms_notifications": true, "marketing_opt_in": false, "locale": "de-DE"});
    let put = app
        .as_user(Method::PUT, "/me/preferences", erin_id, "shopper")
        .json(&prefs)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let got: serde_json::Value = app
        .as_user(Method::GET, "/me/preferences", erin_id, "shopper")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, prefs);
    // SMS needs a phone number.
    let no_phone = app
        .as_user(Method::PUT, "/me/preferences", frank_id, "shopper")
        .json(&prefs)
        .send()
        .await
        .unwrap();
    problem(no_phone, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Frank cannot read Erin's account; an admin can; without identity it is 401.
    let other = app
        .as_user(
            Method::GET,
            &format!("/users/{erin_id}"),
            frank_id,
            "shopper",
        )
        .send()
        .await
        .unwrap();
    problem(other, StatusCode::NOT_FOUND).await;
    let admin = app
        .as_user(
            Method::GET,
            &format!("/users/{erin_id}"),
            frank_id,
            "shopper,admin",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    problem(
        app.request(Method::GET, "/me").send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
