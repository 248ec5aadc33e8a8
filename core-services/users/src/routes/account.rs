//! The account flows: registration with email verification, forgotten password, password
//! change and "sign out everywhere".
//!
//! Answers never tell whether an email has an account: registration and "forgot password"
//! answer `202` with the same body either way, after the same password hashing (registration)
//! or the same look-up (forgot password). What differs happens by email, through the event
//! path (outbox -> RabbitMQ -> bridge -> SNS -> SQS -> notifier): a verification link for a new
//! account, a "someone tried to register" notice for an existing one, a reset link only to an
//! existing account. Links carry single-use tokens; only their SHA-256 hashes are stored, and
//! the events carry them sealed (`events::sealed`). Account emails per account are limited
//! (`account.mails_per_account` per `account.mail_window_seconds`), so nobody can flood an
//! inbox through these routes; the gateway limits them per client address (`auth` class).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use events::payloads::{
    AccountHolder, UserPasswordResetRequested, UserRegistered, UserRegistrationAttempted,
};
use events::{Envelope, Event};
use http::{HeaderMap, StatusCode};
use service_kit::extract::ApiJson;
use service_kit::identity::{Identity, ROLE_ADMIN};
use service_kit::{ApiError, FieldError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::domain::account::{
    Accepted, ChangePasswordInput, ForgotPasswordInput, RegisterInput, ResetPasswordInput,
    VerifyEmailInput,
};
use crate::passwords;
use crate::routes::auth::start_session;
use crate::routes::me::subject;
use crate::store::{EVENT_SOURCE, PasswordChanged, Purpose, Registered};
use crate::tokens::{TokenResponse, hash_opaque_token, new_opaque_token};

/// The account routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/verify-email", post(verify_email))
        .route("/auth/password/forgot", post(forgot_password))
        .route("/auth/password/reset", post(reset_password))
        .route("/me/email-verification", post(resend_verification))
        .route("/me/password", post(change_password))
        .route("/me/sessions/revoke-all", post(sign_out_everywhere))
        .route("/users/{id}/sessions/revoke-all", post(end_sessions_of))
}

fn accepted(detail: &'static str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail,
        }),
    )
        .into_response()
}

const REGISTER_DETAIL: &str =
    "check your inbox: we sent a link to confirm the address, or a notice if it has an account";
const FORGOT_DETAIL: &str =
    "if the address has an account, we sent it a link to set a new password";

fn invalid_link() -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "token",
        "the link is invalid, expired or already used",
    )])
}

/// A new email verification token for `holder`: its hash and expiry (to store) and the
/// `user.registered` event that carries it, sealed, to the mailer.
fn verification(
    state: &AppState,
    holder: AccountHolder,
) -> Result<(Vec<u8>, OffsetDateTime, Envelope<UserRegistered>), ApiError> {
    let (token, token_hash) = new_opaque_token()?;
    let expires_at =
        OffsetDateTime::now_utc() + Duration::from_secs(state.account.verification_ttl_seconds);
    let sealed = seal(state, &token, UserRegistered::TYPE, &holder.user_id)?;
    let event = Envelope::new(
        EVENT_SOURCE,
        &holder.user_id,
        None,
        UserRegistered {
            user_id: holder.user_id.clone(),
            email: holder.email,
            locale: holder.locale,
            name: Some(holder.name),
            verification: Some(sealed),
            verification_expires_at: Some(expires_at),
        },
    );
    Ok((token_hash, expires_at, event))
}

fn seal(
    state: &AppState,
    token: &str,
    event_type: &str,
    user_id: &str,
) -> Result<String, ApiError> {
    state
        .seal
        .seal(token, event_type, user_id)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Whether one more account email may go to `user_id`; logged when not.
async fn may_mail(state: &AppState, user_id: &str, what: &str) -> bool {
    let allowed = state
        .auth
        .allow_mail(
            user_id,
            state.account.mails_per_account,
            Duration::from_secs(state.account.mail_window_seconds),
        )
        .await;
    if !allowed {
        tracing::warn!(
            user.id = user_id,
            what,
            "account email limit reached; not sent"
        );
    }
    allowed
}

/// Creates an account (role `shopper`) and emails a link that confirms the address. An
/// email that already has an account gets a notice instead, and the answer is the same.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterInput,
    responses(
        (status = 202, description = "Accepted: a confirmation link or, for a known address, a notice is on its way by email", body = Accepted),
        service_kit::openapi::responses::InvalidFields,
    ))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RegisterInput>,
) -> Result<Response, ApiError> {
    let registration = input.validate().map_err(ApiError::Validation)?;
    // Hashed whether or not the email is known: the same work, the same time.
    let hash = passwords::hash(registration.password.clone()).await?;
    let id = Uuid::now_v7();
    let user_id = id.to_string();
    let (token_hash, expires_at, event) = verification(
        &state,
        AccountHolder {
            user_id,
            email: registration.email.as_str().to_owned(),
            name: registration.name.clone(),
            locale: "en".into(),
        },
    )?;
    match state
        .store
        .register(id, &registration, &hash, (&token_hash, expires_at), &event)
        .await?
    {
        Registered::Created(user) => {
            tracing::info!(user.id = %user.id, "account registered");
        }
        Registered::Exists(holder) => {
            if may_mail(&state, &holder.user_id, "registration notice").await {
                let notice = Envelope::new(
                    EVENT_SOURCE,
                    &holder.user_id,
                    None,
                    UserRegistrationAttempted {
                        account: holder.clone(),
                    },
                );
                state.store.publish(&notice, &holder.user_id).await?;
            }
            tracing::info!(user.id = %holder.user_id, "registration attempted for a known email");
        }
    }
    Ok(accepted(REGISTER_DETAIL))
}

/// Confirms an email address with the token of the emailed link (single use).
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = VerifyEmailInput,
    responses(
        (status = 204, description = "The address is confirmed"),
        (status = 422, description = "Invalid, expired or spent link", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<VerifyEmailInput>,
) -> Result<StatusCode, ApiError> {
    let token = input.validate().map_err(ApiError::Validation)?;
    if state.store.verify_email(&hash_opaque_token(token)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(invalid_link())
    }
}

/// Emails a single-use link to set a new password (valid 30 minutes; only the latest link
/// works). The answer is the same whether or not the address has an account.
#[utoipa::path(post, path = "/auth/password/forgot", tag = "auth", request_body = ForgotPasswordInput,
    responses(
        (status = 202, description = "Accepted: if the address has an account, a link is on its way", body = Accepted),
        (status = 422, description = "Not an email address", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ForgotPasswordInput>,
) -> Result<Response, ApiError> {
    let email = input.validate().map_err(ApiError::Validation)?;
    if let Some(holder) = state.store.holder_by_email(email.as_str()).await?
        && may_mail(&state, &holder.user_id, "password reset").await
    {
        let (token, token_hash) = new_opaque_token()?;
        let expires_at =
            OffsetDateTime::now_utc() + Duration::from_secs(state.account.reset_ttl_seconds);
        let user_id = parse_id(&holder)?;
        let aggregate = holder.user_id.clone();
        let event = Envelope::new(
            EVENT_SOURCE,
            &aggregate,
            None,
            UserPasswordResetRequested {
                token: seal(
                    &state,
                    &token,
                    UserPasswordResetRequested::TYPE,
                    &holder.user_id,
                )?,
                account: holder,
                expires_at,
            },
        );
        state
            .store
            .issue_token(
                user_id,
                Purpose::ResetPassword,
                (&token_hash, expires_at),
                &event,
            )
            .await?;
    }
    Ok(accepted(FORGOT_DETAIL))
}

fn parse_id(holder: &AccountHolder) -> Result<Uuid, ApiError> {
    Uuid::parse_str(&holder.user_id).map_err(|e| ApiError::Internal(e.into()))
}

/// Ends in Redis the sessions a password change revoked in the database. The change itself
/// is committed by then, so a Redis failure does not fail the request: the sessions' refresh
/// tokens are already revoked, and their access tokens stop within their 15-minute lifetime.
async fn end(state: &AppState, changed: &PasswordChanged) {
    if state
        .auth
        .end_sessions(&changed.ended_sessions)
        .await
        .is_err()
    {
        tracing::warn!(
            user.id = %changed.holder.user_id,
            "password changed, but Redis did not end its sessions; their access tokens stop when they expire"
        );
    }
}

/// Sets a new password with the token of the emailed reset link (single use). Every session
/// of the account ends, the address counts as confirmed, and the owner is told by email.
#[utoipa::path(post, path = "/auth/password/reset", tag = "auth", request_body = ResetPasswordInput,
    responses(
        (status = 204, description = "The password is set; every session has ended"),
        (status = 422, description = "Invalid fields, or an invalid, expired or spent link", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ResetPasswordInput>,
) -> Result<StatusCode, ApiError> {
    input.validate().map_err(ApiError::Validation)?;
    let token_hash = hash_opaque_token(&input.token);
    let hash = passwords::hash(input.new_password).await?;
    let changed = state
        .store
        .reset_password(&token_hash, &hash)
        .await?
        .ok_or_else(invalid_link)?;
    tracing::info!(user.id = %changed.holder.user_id, "password reset");
    end(&state, &changed).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a new email confirmation link to the signed-in owner (earlier links stop working);
/// nothing is sent for a confirmed address or past the account's email limit.
#[utoipa::path(post, path = "/me/email-verification", tag = "me",
    responses(
        (status = 202, description = "Accepted: a new link is on its way unless the address is confirmed", body = Accepted),
    ))]
pub async fn resend_verification(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let id = subject(&identity)?;
    let user = state
        .store
        .user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such account".into()))?;
    let holder = state
        .store
        .holder(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such account".into()))?;
    if !user.email_verified && may_mail(&state, &holder.user_id, "verification").await {
        let (token_hash, expires_at, event) = verification(&state, holder)?;
        state
            .store
            .issue_token(id, Purpose::VerifyEmail, (&token_hash, expires_at), &event)
            .await?;
    }
    Ok(accepted(
        "a new confirmation link is on its way unless the address is confirmed",
    ))
}

/// Changes the signed-in owner's password; the current one is required. Every session of the
/// account ends, this one included, and the answer starts a new one (use its tokens from now
/// on). The owner is told by email. Wrong current passwords count as failed sign-ins.
#[utoipa::path(post, path = "/me/password", tag = "me", request_body = ChangePasswordInput,
    responses(
        (status = 200, description = "Changed: every earlier session has ended; these are the tokens of a new one", body = TokenResponse),
        (status = 422, description = "Invalid fields or a wrong current password", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    identity: Identity,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ChangePasswordInput>,
) -> Result<Response, ApiError> {
    input.validate().map_err(ApiError::Validation)?;
    let id = subject(&identity)?;
    let gone = || ApiError::NotFound("no such account".into());
    let user = state.store.user(id).await?.ok_or_else(gone)?;
    let ip = state.auth.client_address(&headers, peer.ip()).to_string();
    state.auth.check_throttle(&user.email, &ip).await?;
    let stored = state.store.password_hash(id).await?.ok_or_else(gone)?;
    if !passwords::verify(input.current_password, stored).await? {
        let delay = state.auth.record_failure(&user.email, &ip).await;
        tokio::time::sleep(delay).await;
        return Err(ApiError::Validation(vec![FieldError::new(
            "current_password",
            "is not correct",
        )]));
    }
    let hash = passwords::hash(input.new_password).await?;
    let changed = state
        .store
        .change_password(id, &hash)
        .await?
        .ok_or_else(gone)?;
    tracing::info!(user.id = %user.id, "password changed");
    end(&state, &changed).await;
    start_session(&state, &user).await
}

/// Signs the caller out everywhere: every session of the account ends, this one included.
#[utoipa::path(post, path = "/me/sessions/revoke-all", tag = "me",
    responses(
        (status = 204, description = "Every session has ended"),
        (status = 503, description = "Not every session could be ended yet; retry", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_out_everywhere(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    let id = subject(&identity)?;
    let sessions = state.store.revoke_sessions(id).await?;
    state.auth.end_sessions(&sessions).await?;
    tracing::info!(user.id = %id, sessions = sessions.len(), "signed out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of an account (admins; for a stolen or compromised account).
#[utoipa::path(post, path = "/users/{id}/sessions/revoke-all", tag = "me",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Every session of the account has ended"),
        (status = 404, description = "No such account visible to the caller", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not every session could be ended yet; retry", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_sessions_of(
    identity: Identity,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::NotFound("no such account".into());
    if !identity.has_role(ROLE_ADMIN) {
        return Err(gone());
    }
    let id = Uuid::parse_str(&id).map_err(|_| gone())?;
    state.store.user(id).await?.ok_or_else(gone)?;
    let sessions = state.store.revoke_sessions(id).await?;
    state.auth.end_sessions(&sessions).await?;
    tracing::info!(user.id = %id, by = %identity.subject, sessions = sessions.len(), "sessions ended by an admin");
    Ok(StatusCode::NO_CONTENT)
}
