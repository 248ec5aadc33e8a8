//! The users lookup at checkout against users releases with and without `GET /me/contact`
//! (a rolling deploy may update orders first), and against an account that is gone.

#![allow(clippy::unwrap_used)]

use axum::Json;
use axum::Router;
use axum::routing::get;
use orders::config::Upstreams;
use orders::upstream::Upstream;
use serde_json::json;
use service_kit::identity::Identity;

/// Serves `router` on a free port; its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn upstream(users: &str) -> Upstream {
    Upstream::new(&Upstreams {
        catalog_url: "http://127.0.0.1:9".into(),
        users_url: users.to_owned(),
        timeout_ms: 2000,
    })
    .unwrap()
}

fn shopper() -> Identity {
    Identity {
        subject: "0190e7a4-0000-7000-8000-000000000001".into(),
        roles: vec!["shopper".into()],
    }
}

fn preferences() -> serde_json::Value {
    json!({"email_notifications": true, "sms_notifications": true, "marketing_opt_in": false, "locale": "de-DE"})
}

#[tokio::test]
async fn the_contact_comes_in_one_call_or_from_the_older_routes_of_an_older_users() {
    let current = serve(Router::new().route(
        "/me/contact",
        get(|| async {
            Json(json!({"email": "a@example.com", "name": "A", "phone": "+4915112345678", "preferences": preferences()}))
        }),
    ))
    .await;
    let contact = upstream(&current).contact(&shopper()).await.unwrap();
    assert_eq!(contact.email, "a@example.com");
    assert!(contact.notify_sms && contact.notify_email);
    assert_eq!(contact.locale, "de-DE");

    let older = serve(
        Router::new()
            .route(
                "/me",
                get(|| async {
                    Json(json!({"email": "b@example.com", "name": "B", "phone": null}))
                }),
            )
            .route("/me/preferences", get(|| async { Json(preferences()) })),
    )
    .await;
    let contact = upstream(&older).contact(&shopper()).await.unwrap();
    assert_eq!(contact.email, "b@example.com");
    assert!(!contact.notify_sms, "no phone, no SMS");
    assert!(contact.notify_email);

    // Neither route knows the account: it is gone.
    let gone = serve(Router::new()).await;
    let err = upstream(&gone).contact(&shopper()).await.unwrap_err();
    assert!(
        matches!(err, service_kit::ApiError::Unauthorized(_)),
        "{err:?}"
    );
}
