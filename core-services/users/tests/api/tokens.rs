use reqwest::StatusCode;
use serde_json::{Value, json};
use service_kit::jwt::{JwkSet, verify};

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn login_issues_a_verifiable_token_and_refresh_rotates_it() {
    let app = spawn_app().await;
    let user = app
        .register("gina@example.com", "correct horse battery")
        .await;
    let response = app.login("gina@example.com", "correct horse battery").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);

    let jwks: JwkSet = app
        .request(reqwest::Method::GET, "/.well-known/jwks.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = verify(
        tokens["access_token"].as_str().unwrap(),
        &jwks,
        &app.settings.jwt.issuer,
        &app.settings.jwt.audience,
    )
    .unwrap();
    assert_eq!(claims.sub, user["id"].as_str().unwrap());
    assert_eq!(claims.roles, ["shopper"]);
    assert_eq!(claims.exp - claims.iat, 900);

    // The session exists in Redis with its idle TTL.
    let mut redis = app.redis.connection();
    let key = format!("{}{}", app.settings.auth.session_key_prefix, claims.sid);
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut redis).unwrap();
    assert!(ttl > 1700 && ttl <= 1800, "ttl {ttl}");

    let refreshed = app
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
    let again = verify(
        refreshed["access_token"].as_str().unwrap(),
        &jwks,
        &app.settings.jwt.issuer,
        &app.settings.jwt.audience,
    )
    .unwrap();
    assert_eq!(again.sid, claims.sid, "same session");

    let logout = app
        .post(
            "/auth/logout",
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut redis).unwrap();
    assert!(!exists, "logout ends the session");
    let after = app
        .post(
            "/auth/refresh",
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    problem(after, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    app.register("hank@example.com", "correct horse battery")
        .await;
    let first: Value = app
        .login("hank@example.com", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .post(
            "/auth/refresh",
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();

    // An attacker replays the first (spent) token: refused, and the legitimate successor dies too.
    let replay = app
        .post(
            "/auth/refresh",
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    let body = problem(replay, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
    let successor = app
        .post(
            "/auth/refresh",
            json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    problem(successor, StatusCode::UNAUTHORIZED).await;

    // A separate login is a separate family and still works.
    let other: Value = app
        .login("hank@example.com", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.post(
            "/auth/refresh",
            json!({"refresh_token": other["refresh_token"]})
        )
        .await
        .status(),
        StatusCode::OK
    );
}
