//! The users OpenAPI document, served at `/openapi.json`.

use utoipa::OpenApi;

use crate::domain::account::{
    Contact, LoginInput, Preferences, ProfilePatch, RefreshInput, RegisterInput,
};
use crate::routes::{auth, me};
use crate::store::User;
use crate::tokens::TokenResponse;

/// The users API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "users", description = "Accounts, sign-in, tokens, profiles and preferences."),
    paths(auth::register, auth::login, auth::refresh, auth::logout, auth::jwks,
          me::get_me, me::patch_me, me::get_preferences, me::put_preferences, me::get_contact, me::get_user),
    components(schemas(User, RegisterInput, LoginInput, RefreshInput, ProfilePatch, Preferences, Contact, TokenResponse,
                       service_kit::jwt::JwkSet, service_kit::jwt::Jwk, service_kit::Problem, service_kit::FieldError)),
    tags((name = "auth", description = "Sign-up, sign-in, tokens"), (name = "me", description = "The caller's account"))
)]
pub struct ApiDoc;
