//! Email verification, registration of a known email, forgotten and changed passwords, and
//! "sign out everywhere", with the events they write to the outbox.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Value {
    json_of(app.login(email, password).await, StatusCode::OK).await
}

async fn refresh(app: &TestApp, tokens: &Value) -> StatusCode {
    app.post(
        "/auth/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await
    .status()
}

fn session_keys(app: &TestApp) -> Vec<String> {
    app.redis
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&app.settings.auth.session_key_prefix))
        .collect()
}

#[tokio::test]
async fn registration_answers_the_same_for_a_known_email_and_tells_its_owner() {
    let app = spawn_app().await;
    let body =
        json!({"email": "Ivy@example.com", "password": "correct horse battery", "name": "Ivy"});
    let first = json_of(
        app.post("/auth/register", body.clone()).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let registered = app.events_of("user.registered").await;
    assert_eq!(registered.len(), 1);
    let event = &registered[0];
    assert_eq!(event["data"]["email"], "ivy@example.com");
    assert_eq!(event["data"]["name"], "Ivy");
    assert_eq!(event["source"], "/users");
    let token = app.open(event, "verification");
    assert_eq!(token.len(), 43);
    assert!(
        !event.to_string().contains(&token),
        "the token travels sealed only"
    );

    // The same email again, with another password: the same answer, nothing changes, and the
    // owner gets a notice instead.
    let again = json_of(
        app.post(
            "/auth/register",
            json!({"email": "ivy@EXAMPLE.com", "password": "another password!", "name": "Mallory"}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(first, again);
    let attempted = app.events_of("user.registration_attempted").await;
    assert_eq!(attempted.len(), 1);
    assert_eq!(attempted[0]["data"]["account"]["email"], "ivy@example.com");
    assert_eq!(attempted[0]["data"]["account"]["name"], "Ivy");
    assert_eq!(app.events_of("user.registered").await.len(), 1);
    sign_in(&app, "ivy@example.com", "correct horse battery").await;
    problem(
        app.login("ivy@example.com", "another password!").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Notices are limited per account: nobody can flood the owner's inbox.
    for _ in 0..5 {
        json_of(
            app.post("/auth/register", body.clone()).await,
            StatusCode::ACCEPTED,
        )
        .await;
    }
    assert_eq!(
        app.events_of("user.registration_attempted").await.len(),
        app.settings.account.mails_per_account as usize
    );
}

#[tokio::test]
async fn the_emailed_link_confirms_the_address_once() {
    let app = spawn_app().await;
    let user = app
        .register("jade@example.com", "correct horse battery")
        .await;
    let id = user["id"].as_str().unwrap();
    let me = |app: &TestApp| {
        let request = app.as_user(Method::GET, "/me", id, "shopper");
        async move { json_of(request.send().await.unwrap(), StatusCode::OK).await }
    };
    assert_eq!(me(&app).await["email_verified"], false);

    let events = app.events_of("user.registered").await;
    let token = app.open(&events[0], "verification");
    for wrong in ["not-a-token", &"x".repeat(43)] {
        problem(
            app.post("/auth/verify-email", json!({"token": wrong}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let ok = app
        .post("/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app).await["email_verified"], true);
    problem(
        app.post("/auth/verify-email", json!({"token": token}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // A confirmed address gets no new link.
    let resent = app
        .as_user(Method::POST, "/me/email-verification", id, "shopper")
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    assert_eq!(app.events_of("user.registered").await.len(), 1);
}

#[tokio::test]
async fn a_resent_link_replaces_the_first_and_expired_links_fail() {
    let app = spawn_app().await;
    let user = app
        .register("kim@example.com", "correct horse battery")
        .await;
    let id = user["id"].as_str().unwrap();
    let first = app.open(&app.events_of("user.registered").await[0], "verification");
    let resent = app
        .as_user(Method::POST, "/me/email-verification", id, "shopper")
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    let events = app.events_of("user.registered").await;
    assert_eq!(events.len(), 2);
    let second = app.open(&events[1], "verification");
    problem(
        app.post("/auth/verify-email", json!({"token": first}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    sqlx::query("update account_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    problem(
        app.post("/auth/verify-email", json!({"token": second}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let app = spawn_app().await;
    app.register("lena@example.com", "correct horse battery")
        .await;
    let session = sign_in(&app, "lena@example.com", "correct horse battery").await;
    assert_eq!(session_keys(&app).len(), 1);

    // Unknown and known addresses get the same answer; only the known one gets a link.
    let unknown = json_of(
        app.post(
            "/auth/password/forgot",
            json!({"email": "nobody@example.com"}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert!(
        app.events_of("user.password_reset_requested")
            .await
            .is_empty()
    );
    let known = json_of(
        app.post(
            "/auth/password/forgot",
            json!({"email": "LENA@example.com"}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(unknown, known);
    problem(
        app.post("/auth/password/forgot", json!({"email": "not an email"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let requested = app.events_of("user.password_reset_requested").await;
    assert_eq!(requested.len(), 1);
    let first = app.open(&requested[0], "token");
    let expires = time::OffsetDateTime::parse(
        requested[0]["data"]["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let minutes = (expires - time::OffsetDateTime::now_utc()).whole_minutes();
    assert!(
        (28..=30).contains(&minutes),
        "30-minute links, got {minutes}"
    );
    let stored: Vec<Vec<u8>> = sqlx::query_scalar(
        "select token_hash from account_tokens where purpose = 'reset_password'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], first.as_bytes(), "only the hash is stored");

    // Only the latest link works.
    app.post(
        "/auth/password/forgot",
        json!({"email": "lena@example.com"}),
    )
    .await;
    let requested = app.events_of("user.password_reset_requested").await;
    let latest = app.open(&requested[1], "token");
    let reset = |token: &str, password: &str| {
        app.post(
            "/auth/password/reset",
            json!({"token": token, "new_password": password}),
        )
    };
    problem(
        reset(&first, "brand new passphrase").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        reset(&latest, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        reset(&latest, "brand new passphrase").await.status(),
        StatusCode::NO_CONTENT
    );
    problem(
        reset(&latest, "another passphrase").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // The old password and every session are gone; the new password works; the owner is told.
    problem(
        app.login("lena@example.com", "correct horse battery").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(refresh(&app, &session).await, StatusCode::UNAUTHORIZED);
    assert!(session_keys(&app).is_empty());
    sign_in(&app, "lena@example.com", "brand new passphrase").await;
    let changed = app.events_of("user.password_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["how"], "reset");
    assert_eq!(changed[0]["data"]["account"]["email"], "lena@example.com");
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_every_other_session() {
    let app = spawn_app().await;
    let user = app
        .register("mia@example.com", "correct horse battery")
        .await;
    let id = user["id"].as_str().unwrap();
    let laptop = sign_in(&app, "mia@example.com", "correct horse battery").await;
    let phone = sign_in(&app, "mia@example.com", "correct horse battery").await;
    assert_eq!(session_keys(&app).len(), 2);
    let change = |current: &str, new: &str| {
        app.as_user(Method::POST, "/me/password", id, "shopper")
            .header("x-forwarded-for", "203.0.113.9")
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    let wrong = problem(
        change("not my password", "brand new passphrase")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(wrong["errors"][0]["field"], "current_password");
    let same = problem(
        change("correct horse battery", "correct horse battery")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(same["errors"][0]["field"], "new_password");
    assert_eq!(
        session_keys(&app).len(),
        2,
        "failed attempts change nothing"
    );

    let fresh = json_of(
        change("correct horse battery", "brand new passphrase")
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(refresh(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&app, &fresh).await,
        StatusCode::OK,
        "the new session lives"
    );
    assert_eq!(session_keys(&app).len(), 1);
    sign_in(&app, "mia@example.com", "brand new passphrase").await;
    let changed = app.events_of("user.password_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["how"], "changed");

    // Wrong current passwords count as failed sign-ins for that client.
    for _ in 0..app.settings.auth.max_failures_per_client {
        change("still not it", "yet another passphrase")
            .await
            .unwrap();
    }
    let throttled = change("brand new passphrase", "yet another passphrase")
        .await
        .unwrap();
    problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_admins_can_do_it_for_an_account() {
    let app = spawn_app().await;
    let user = app
        .register("noa@example.com", "correct horse battery")
        .await;
    let id = user["id"].as_str().unwrap();
    let a = sign_in(&app, "noa@example.com", "correct horse battery").await;
    let b = sign_in(&app, "noa@example.com", "correct horse battery").await;
    let out = app
        .as_user(Method::POST, "/me/sessions/revoke-all", id, "shopper")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &b).await, StatusCode::UNAUTHORIZED);
    assert!(session_keys(&app).is_empty());

    let c = sign_in(&app, "noa@example.com", "correct horse battery").await;
    let other = app
        .register("oli@example.com", "correct horse battery")
        .await;
    let path = format!("/users/{id}/sessions/revoke-all");
    let by_shopper = app
        .as_user(
            Method::POST,
            &path,
            other["id"].as_str().unwrap(),
            "shopper",
        )
        .send()
        .await
        .unwrap();
    problem(by_shopper, StatusCode::NOT_FOUND).await;
    assert_eq!(refresh(&app, &c).await, StatusCode::OK);
    let c = sign_in(&app, "noa@example.com", "correct horse battery").await;
    let by_admin = app
        .as_user(
            Method::POST,
            &path,
            other["id"].as_str().unwrap(),
            "shopper,admin",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &c).await, StatusCode::UNAUTHORIZED);
}
