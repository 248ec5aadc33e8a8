use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use service_kit::jwt::Claims;
use users::domain::keys::KeyConfig;

use crate::helpers::{Options, Platform, problem, refused_within_a_second, spawn_platform};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(platform: &Platform, sub: &str, sid: &str) -> Claims {
    Claims {
        iss: platform.issuer.clone(),
        aud: platform.audience.clone(),
        sub: sub.to_owned(),
        exp: now() + 600,
        nbf: now() - 5,
        iat: now() - 5,
        jti: uuid::Uuid::now_v7().to_string(),
        roles: vec!["shopper".into()],
        sid: sid.to_owned(),
    }
}

fn sign(key: &KeyConfig, claims: &Claims) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let der = STANDARD.decode(&key.pkcs8).unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
}

fn session_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn register_login_use_refresh_logout_and_old_tokens_are_rejected() {
    let platform = spawn_platform(Options::default()).await;
    let (user_id, tokens) = platform.sign_up("ivy@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();

    let me = platform.get("/api/v1/me", Some(access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["id"], user_id.as_str());

    let refreshed: Value = platform
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        platform.get("/api/v1/me", Some(new_access)).await.status(),
        StatusCode::OK
    );

    let logout = platform
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    // Both access tokens still carry valid signatures, but their session is gone.
    for token in [access, new_access] {
        let response = refused_within_a_second(&platform, token).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let reuse = platform
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    problem(reuse, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn refresh_token_reuse_through_the_gateway_revokes_the_family() {
    let platform = spawn_platform(Options::default()).await;
    let (_, first) = platform.sign_up("jack@example.com").await;
    let second: Value = platform
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    problem(
        platform
            .post(
                "/api/v1/auth/refresh",
                json!({"refresh_token": first["refresh_token"]}),
            )
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // The session is revoked: even the newest access token stops working.
    problem(
        refused_within_a_second(&platform, second["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn every_kind_of_bad_token_is_rejected_with_401() {
    let platform = spawn_platform(Options::default()).await;
    let (user_id, tokens) = platform.sign_up("kim@example.com").await;
    let sid = session_of(tokens["access_token"].as_str().unwrap());
    let key = &platform.keys[0];

    // Control: a token forged with the real key and a live session is accepted, so each case
    // below fails for exactly its own defect.
    let good = sign(key, &claims(&platform, &user_id, &sid));
    assert_eq!(
        platform.get("/api/v1/me", Some(&good)).await.status(),
        StatusCode::OK
    );

    let mut expired = claims(&platform, &user_id, &sid);
    expired.exp = now() - 120;
    expired.iat = now() - 1000;
    expired.nbf = now() - 1000;
    let mut wrong_issuer = claims(&platform, &user_id, &sid);
    wrong_issuer.iss = "https://evil.example".into();
    let mut wrong_audience = claims(&platform, &user_id, &sid);
    wrong_audience.aud = "another-api".into();
    let mut not_yet = claims(&platform, &user_id, &sid);
    not_yet.nbf = now() + 600;

    let header_none =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": key.kid}).to_string());
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&platform, &user_id, &sid)).unwrap());
    let alg_none = format!("{header_none}.{payload}.");

    // HS256 "signed" with the public key, the classic key-confusion attack.
    let jwks: Value = platform
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let public_x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(key.kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims(&platform, &user_id, &sid),
        &EncodingKey::from_secret(&public_x),
    )
    .unwrap();

    let stranger = KeyConfig::generate("ghost-key").unwrap();
    let unknown_kid = sign(&stranger, &claims(&platform, &user_id, &sid));

    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 5;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    let cases = [
        ("expired", sign(key, &expired)),
        ("not yet valid", sign(key, &not_yet)),
        ("wrong issuer", sign(key, &wrong_issuer)),
        ("wrong audience", sign(key, &wrong_audience)),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("unknown kid", unknown_kid),
        ("flipped signature byte", flipped),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (case, token) in cases {
        let response = platform.get("/api/v1/me", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    problem(
        platform.get("/api/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_rotated_out_key_is_honoured_until_its_tokens_expire_and_not_after() {
    let current = KeyConfig::generate("k-current").unwrap();
    let mut recent = KeyConfig::generate("k-recent").unwrap();
    recent.retired_at = Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(1));
    let mut old = KeyConfig::generate("k-old").unwrap();
    old.retired_at = Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(16));
    let platform = spawn_platform(Options {
        keys: vec![current, recent.clone(), old.clone()],
        ..Options::default()
    })
    .await;
    let (user_id, tokens) = platform.sign_up("lea@example.com").await;
    let sid = session_of(tokens["access_token"].as_str().unwrap());

    let by_recent = sign(&recent, &claims(&platform, &user_id, &sid));
    assert_eq!(
        platform.get("/api/v1/me", Some(&by_recent)).await.status(),
        StatusCode::OK
    );
    let by_old = sign(&old, &claims(&platform, &user_id, &sid));
    problem(
        platform.get("/api/v1/me", Some(&by_old)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn roles_and_ownership_are_enforced() {
    let platform = spawn_platform(Options::default()).await;
    let (mia, mia_tokens) = platform.sign_up("mia@example.com").await;
    let (_, ned_tokens) = platform.sign_up("ned@example.com").await;
    let ned = ned_tokens["access_token"].as_str().unwrap();

    let admin_route = platform
        .request(Method::POST, "/api/v1/admin/products")
        .bearer_auth(ned)
        .json(&json!({"sku": "X-1", "name": "X", "price": {"amount": 1, "currency": "EUR"}}))
        .send()
        .await
        .unwrap();
    problem(admin_route, StatusCode::FORBIDDEN).await;
    problem(
        platform
            .get(&format!("/api/v1/users/{mia}"), Some(ned))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let own = platform
        .get(
            &format!("/api/v1/users/{mia}"),
            mia_tokens["access_token"].as_str(),
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    // Anonymous callers reach public routes only.
    assert_eq!(
        platform.get("/api/v1/products", None).await.status(),
        StatusCode::OK
    );
    problem(
        platform.get("/api/v1/admin/products/x", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn an_admin_writes_through_the_gateway_and_locations_are_public_paths() {
    let mut options = Options::default();
    let admin_key = options.keys[0].clone();
    options.keys = vec![admin_key.clone()];
    let platform = spawn_platform(options).await;
    let (user_id, tokens) = platform.sign_up("root@example.com").await;
    let sid = session_of(tokens["access_token"].as_str().unwrap());
    // An admin token as users would issue it after `promote-admin`.
    let mut admin = claims(&platform, &user_id, &sid);
    admin.roles = vec!["shopper".into(), "admin".into()];
    let token = sign(&admin_key, &admin);
    let created = platform
        .request(Method::POST, "/api/v1/admin/products")
        .bearer_auth(&token)
        .json(&json!({"sku": "GW-1", "name": "Gateway Lamp", "price": {"amount": 1234, "currency": "EUR"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v1/products/"), "{location}");
    let fetched: Value = platform.get(&location, None).await.json().await.unwrap();
    assert_eq!(fetched["sku"], "GW-1");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same_through_the_gateway() {
    let platform = spawn_platform(Options::default()).await;
    platform.sign_up("olga@example.com").await;
    let wrong = platform
        .post(
            "/api/v1/auth/login",
            json!({"email": "olga@example.com", "password": "not the password"}),
        )
        .await;
    let unknown = platform
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    let wrong = problem(wrong, StatusCode::UNAUTHORIZED).await;
    let unknown = problem(unknown, StatusCode::UNAUTHORIZED).await;
    for field in ["type", "title", "status", "detail"] {
        assert_eq!(wrong[field], unknown[field], "{field}");
    }
}

#[tokio::test]
async fn signed_in_browsing_verifies_a_token_once_and_checks_its_session_once_per_interval() {
    // An interval no test run outlasts: every check after the first is answered from memory.
    let platform = spawn_platform(Options {
        session_check_ms: Some(600_000),
        ..Options::default()
    })
    .await;
    let (_, tokens) = platform.sign_up("browser@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    for _ in 0..20 {
        let response = platform.get("/api/v1/products", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let metrics = platform.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"gateway_auth_checks_total{check="signature"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gateway_auth_checks_total{check="session"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_session_checks_from_memory_a_logout_is_still_refused_within_a_second() {
    let platform = spawn_platform(Options::default()).await;
    let (_, tokens) = platform.sign_up("leaver@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    // Warm: the token is verified and its session confirmed, both now held in memory.
    for _ in 0..3 {
        assert_eq!(
            platform.get("/api/v1/me", Some(access)).await.status(),
            StatusCode::OK
        );
    }
    let logout = platform
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    problem(
        refused_within_a_second(&platform, access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_burst_of_first_signed_in_requests_is_accepted_while_the_key_set_is_fetched_once() {
    // The deployed minimum between two fetches: the waiters may not fetch again themselves.
    let platform = spawn_platform(Options {
        jwks_min_refresh_ms: 10_000,
        ..Options::default()
    })
    .await;
    let (_, tokens) = platform.sign_up("burst@example.com").await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    // The gateway has not seen a token yet: its key set is empty. 32 requests at once all find
    // the key unknown; one fetches the set, the others wait for it and use it.
    let requests = (0..32).map(|_| platform.get("/api/v1/me", Some(&token)));
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

/// Finding 11 of the abuse review: with Redis gone, a signed-out token kept working for writes.
/// Reads still fail open (the token's signature and expiry hold); writes fail closed.
#[tokio::test]
async fn without_redis_a_token_still_reads_but_cannot_write() {
    let redis: std::net::SocketAddr = "127.0.0.1:6379".parse().unwrap();
    let proxy = service_kit::testing::TcpProxy::start(redis).await;
    let platform = spawn_platform(Options {
        gateway_redis_url: Some(format!("redis://{}", proxy.addr())),
        // No session is trusted from memory: every request asks Redis.
        session_check_ms: Some(0),
        ..Options::default()
    })
    .await;
    let (_, tokens) = platform.sign_up("outage@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let write = || {
        platform
            .request(Method::POST, "/api/v1/echo-private/anything")
            .bearer_auth(access)
            .json(&json!({"x": 1}))
            .send()
    };
    // With Redis, the write reaches the upstream (the stub answers GET only: 405).
    assert_eq!(
        write().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );

    proxy.cut();
    assert_eq!(
        platform.get("/api/v1/me", Some(access)).await.status(),
        StatusCode::OK,
        "a read fails open"
    );
    let refused = write().await.unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(!refused.headers().contains_key("www-authenticate"));
    problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    // A write without a token is not a session question: it goes on.
    assert_eq!(
        platform
            .request(Method::POST, "/api/v1/echo/anything")
            .json(&json!({"x": 1}))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}
