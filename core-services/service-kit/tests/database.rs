//! The pool every service uses, against the real PostgreSQL server.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::SecretString;
use service_kit::config::DatabaseSettings;
use service_kit::db;
use service_kit::error::ApiError;
use service_kit::testing::TestDatabase;

fn settings(url: &str, statement_timeout_ms: u64) -> DatabaseSettings {
    DatabaseSettings {
        url: SecretString::from(url.to_owned()),
        max_connections: 2,
        acquire_timeout_ms: 5_000,
        statement_timeout_ms,
    }
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_a_503_problem_and_fast_ones_pass() {
    let database = TestDatabase::create("kit_timeout").await;
    let pool = db::pool(&settings(&database.url, 50), "kit-test", &[]).unwrap();

    let quick: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(quick, 1);

    let slow = sqlx::query("select pg_sleep(2)")
        .execute(&pool)
        .await
        .expect_err("the statement timeout cancels a two-second query");
    let error = ApiError::from(slow);
    assert!(matches!(error, ApiError::Unavailable(_)), "{error:?}");
    let response = error.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    // The connection is still good after the cancellation.
    let again: i32 = sqlx::query_scalar("select 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(again, 2);
    pool.close().await;
}
