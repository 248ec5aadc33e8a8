//! The caller's own account: profile and preferences; other accounts only for admins.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use service_kit::extract::ApiJson;
use service_kit::identity::{Identity, ROLE_ADMIN};
use service_kit::{ApiError, FieldError};
use uuid::Uuid;

use crate::AppState;
use crate::domain::account::{Contact, Preferences, ProfilePatch};
use crate::store::User;

/// The profile routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(get_me).patch(patch_me))
        .route("/me/preferences", get(get_preferences).put(put_preferences))
        .route("/me/contact", get(get_contact))
        .route("/users/{id}", get(get_user))
}

/// The caller's user id.
pub(crate) fn subject(identity: &Identity) -> Result<Uuid, ApiError> {
    Uuid::parse_str(&identity.subject)
        .map_err(|_| ApiError::Unauthorized("the identity is not a user id".into()))
}

fn gone() -> ApiError {
    ApiError::NotFound("no such account".into())
}

/// The caller's profile.
#[utoipa::path(get, path = "/me", tag = "me", responses((status = 200, description = "Profile", body = User)))]
pub async fn get_me(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<Json<User>, ApiError> {
    state
        .store
        .user(subject(&identity)?)
        .await?
        .map(Json)
        .ok_or_else(gone)
}

/// Changes the caller's name or phone.
#[utoipa::path(patch, path = "/me", tag = "me", request_body = ProfilePatch,
    responses((status = 200, description = "Profile", body = User),
              service_kit::openapi::responses::InvalidFields))]
pub async fn patch_me(
    identity: Identity,
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Json<User>, ApiError> {
    let change = patch.validate().map_err(ApiError::Validation)?;
    state
        .store
        .update_profile(subject(&identity)?, &change)
        .await?
        .map(Json)
        .ok_or_else(gone)
}

/// The caller's notification preferences.
#[utoipa::path(get, path = "/me/preferences", tag = "me", responses((status = 200, description = "Preferences", body = Preferences)))]
pub async fn get_preferences(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<Json<Preferences>, ApiError> {
    state
        .store
        .preferences(subject(&identity)?)
        .await?
        .map(Json)
        .ok_or_else(gone)
}

/// How to reach the caller and how they want to hear from us: profile and preferences in one
/// answer (what checkout snapshots onto an order).
#[utoipa::path(get, path = "/me/contact", tag = "me", responses((status = 200, description = "Contact details and preferences", body = Contact)))]
pub async fn get_contact(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<Json<Contact>, ApiError> {
    state
        .store
        .contact(subject(&identity)?)
        .await?
        .map(Json)
        .ok_or_else(gone)
}

/// Replaces the caller's notification preferences.
#[utoipa::path(put, path = "/me/preferences", tag = "me", request_body = Preferences,
    responses((status = 200, description = "Preferences", body = Preferences),
              service_kit::openapi::responses::InvalidFields))]
pub async fn put_preferences(
    identity: Identity,
    State(state): State<AppState>,
    ApiJson(prefs): ApiJson<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    prefs.validate().map_err(ApiError::Validation)?;
    let id = subject(&identity)?;
    if prefs.sms_notifications {
        let user = state.store.user(id).await?.ok_or_else(gone)?;
        if user.phone.is_none() {
            return Err(ApiError::Validation(vec![FieldError::new(
                "sms_notifications",
                "add a phone number to the profile first",
            )]));
        }
    }
    if !state.store.set_preferences(id, &prefs).await? {
        return Err(gone());
    }
    Ok(Json(prefs))
}

/// An account by id: the owner or an admin; anyone else gets 404 (not 403, which would
/// confirm the account exists).
#[utoipa::path(get, path = "/users/{id}", tag = "me", params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "Profile", body = User),
              (status = 404, description = "No such account visible to the caller", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn get_user(
    identity: Identity,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(gone());
    };
    if identity.subject != id.to_string() && !identity.has_role(ROLE_ADMIN) {
        return Err(gone());
    }
    state.store.user(id).await?.map(Json).ok_or_else(gone)
}
