//! Register, login, refresh, logout, and the JWK Set.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode, header};
use service_kit::ApiError;
use service_kit::extract::ApiJson;
use service_kit::jwt::JwkSet;
use uuid::Uuid;

use crate::AppState;
use crate::domain::account::{Email, LoginInput, RefreshInput};
use crate::passwords;
use crate::store::{Rotation, User};
use crate::tokens::{TokenResponse, hash_opaque_token, new_opaque_token};

/// The authentication routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/.well-known/jwks.json", get(jwks))
}

/// The same answer for an unknown email and a wrong password.
fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("invalid email or password".into())
}

/// Signs in: an access token and a refresh token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginInput,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Invalid email or password", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<LoginInput>,
) -> Result<Response, ApiError> {
    let ip = state.auth.client_address(&headers, peer.ip()).to_string();
    let email = Email::parse(&input.email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| input.email.trim().to_lowercase());
    state.auth.check_throttle(&email, &ip).await?;
    let account = state.store.credentials(&email).await?;
    // Unknown accounts are checked against a dummy hash: same work, same time, same answer.
    let (user, stored) = match account {
        Some((user, hash)) => (Some(user), hash),
        None => (None, state.dummy_hash.to_string()),
    };
    let matches = passwords::verify(input.password, stored).await?;
    let Some(user) = user.filter(|_| matches) else {
        let delay = state.auth.record_failure(&email, &ip).await;
        // Distributed guessing against this account: wrong answers come late.
        tokio::time::sleep(delay).await;
        return Err(invalid_credentials());
    };
    state.auth.clear_failures(&email, &ip).await;
    tracing::info!(user.id = %user.id, "signed in");
    start_session(&state, &user).await
}

/// Starts a new session for `user`: a token family, its Redis entry and the token response.
pub(crate) async fn start_session(state: &AppState, user: &User) -> Result<Response, ApiError> {
    let family_id = Uuid::now_v7();
    let (refresh_token, hash) = new_opaque_token()?;
    state
        .store
        .insert_refresh(user.id, family_id, &hash, state.issuer.refresh_expiry())
        .await?;
    state
        .auth
        .touch_session(&family_id.to_string(), &user.id.to_string())
        .await;
    Ok(token_response(state.issuer.response(
        user,
        family_id,
        refresh_token,
    )?))
}

fn token_response(body: TokenResponse) -> Response {
    let mut response = Json(body).into_response();
    // RFC 6749 5.1: token responses must not be cached.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// Exchanges a refresh token for a new pair; presenting a spent one revokes the session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshInput,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused token", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshInput>,
) -> Result<Response, ApiError> {
    let (next, next_hash) = new_opaque_token()?;
    let rotation = state
        .store
        .rotate(
            &hash_opaque_token(&input.refresh_token),
            &next_hash,
            state.issuer.refresh_expiry(),
        )
        .await?;
    match rotation {
        Rotation::Rotated { user, family_id } => {
            state
                .auth
                .touch_session(&family_id.to_string(), &user.id.to_string())
                .await;
            Ok(token_response(
                state.issuer.response(&user, family_id, next)?,
            ))
        }
        Rotation::Reused { family_id } => {
            tracing::warn!(session = %family_id, "refresh token reused; session revoked");
            state.auth.end_session(&family_id.to_string()).await;
            Err(ApiError::Unauthorized(
                "this refresh token was already used; the session is revoked".into(),
            ))
        }
        Rotation::Invalid => Err(ApiError::Unauthorized(
            "unknown, expired or revoked refresh token".into(),
        )),
    }
}

/// Signs out: revokes the session of a refresh token (idempotent).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshInput,
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshInput>,
) -> Result<StatusCode, ApiError> {
    if let Some(family_id) = state
        .store
        .revoke_by_token(&hash_opaque_token(&input.refresh_token))
        .await?
    {
        state.auth.end_session(&family_id.to_string()).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK Set", body = JwkSet)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.issuer.keys.jwks().clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=300"),
    );
    response
}
