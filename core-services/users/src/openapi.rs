//! The users OpenAPI document, served at `/openapi.json`.

use utoipa::OpenApi;

use crate::domain::account::{
    Accepted, ChangePasswordInput, Contact, ForgotPasswordInput, LoginInput, Preferences,
    ProfilePatch, RefreshInput, RegisterInput, ResetPasswordInput, VerifyEmailInput,
};
use crate::routes::{account, auth, me};
use crate::store::User;
use crate::tokens::TokenResponse;

/// The users API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "users", description = "Accounts, sign-in, tokens, account emails, profiles and preferences."),
    paths(account::register, auth::login, auth::refresh, auth::logout, auth::jwks,
          account::verify_email, account::forgot_password, account::reset_password,
          account::resend_verification, account::change_password, account::sign_out_everywhere,
          account::end_sessions_of,
          me::get_me, me::patch_me, me::get_preferences, me::put_preferences, me::get_contact, me::get_user),
    components(schemas(User, RegisterInput, LoginInput, RefreshInput, ProfilePatch, Preferences, Contact, TokenResponse,
                       Accepted, VerifyEmailInput, ForgotPasswordInput, ResetPasswordInput, ChangePasswordInput,
                       service_kit::jwt::JwkSet, service_kit::jwt::Jwk, service_kit::Problem, service_kit::FieldError)),
    tags((name = "auth", description = "Sign-up, sign-in, tokens, email confirmation, forgotten passwords"),
         (name = "me", description = "The caller's account, password and sessions"))
)]
pub struct ApiDoc;
