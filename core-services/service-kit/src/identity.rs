//! The caller's identity, as verified and forwarded by the gateway.
//!
//! The gateway strips any client-sent `x-auth-*` headers, verifies the JWT and sets
//! `x-auth-subject` (the user id) and `x-auth-roles` (comma-separated). Services trust these
//! headers only because network policies let nothing but the gateway reach them.

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::error::ApiError;

/// Header with the authenticated subject (user id).
pub const SUBJECT_HEADER: &str = "x-auth-subject";
/// Header with the subject's roles, comma-separated.
pub const ROLES_HEADER: &str = "x-auth-roles";
/// The role of shop operators.
pub const ROLE_ADMIN: &str = "admin";
/// The role of every registered customer.
pub const ROLE_SHOPPER: &str = "shopper";
/// Default Redis key prefix of login sessions: `users` writes `<prefix><session id>` with an
/// idle TTL, the gateway refuses tokens whose session is gone (logout, theft detection).
pub const DEFAULT_SESSION_KEY_PREFIX: &str = "users:session:";

/// An authenticated caller; extracting it answers 401 when the request carries no identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub subject: String,
    /// The roles granted to the user.
    pub roles: Vec<String>,
}

impl Identity {
    /// Reads the identity headers, if present and well-formed.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        let subject = headers.get(SUBJECT_HEADER)?.to_str().ok()?.trim();
        if subject.is_empty() {
            return None;
        }
        let roles = headers
            .get(ROLES_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Self {
            subject: subject.to_owned(),
            roles,
        })
    }

    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// 403 unless the caller has `role`.
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this action requires the `{role}` role"
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers)
            .ok_or_else(|| ApiError::Unauthorized("this action requires a signed-in user".into()))
    }
}

/// An authenticated caller with the `admin` role (401 without identity, 403 without the role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let identity = Identity::from_request_parts(parts, state).await?;
        identity.require_role(ROLE_ADMIN)?;
        Ok(Self(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_split_and_trimmed() {
        let mut headers = http::HeaderMap::new();
        headers.insert(SUBJECT_HEADER, "u-1".parse().unwrap());
        headers.insert(ROLES_HEADER, "shopper, admin ,".parse().unwrap());
        let identity = Identity::from_headers(&headers).unwrap();
        assert_eq!(identity.roles, vec!["shopper", "admin"]);
        assert!(identity.require_role(ROLE_ADMIN).is_ok());
    }

    #[test]
    fn a_shopper_is_forbidden_admin_actions_and_a_blank_subject_is_anonymous() {
        let mut headers = http::HeaderMap::new();
        headers.insert(SUBJECT_HEADER, "u-1".parse().unwrap());
        headers.insert(ROLES_HEADER, "shopper".parse().unwrap());
        let shopper = Identity::from_headers(&headers).unwrap();
        assert_eq!(shopper.require_role(ROLE_ADMIN).unwrap_err().status(), 403);

        headers.insert(SUBJECT_HEADER, "  ".parse().unwrap());
        assert!(Identity::from_headers(&headers).is_none());
    }
}
