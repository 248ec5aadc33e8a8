//! The two services checkout asks: catalog for the current price of a SKU, users for the
//! shopper's contact details and notification preferences. Both are called with the caller's
//! identity headers and the trace context; failures become 503 problems, never guesses.

use std::time::Duration;

use events::payloads::Contact;
use http::HeaderMap;
use serde::Deserialize;
use service_kit::ApiError;
use service_kit::identity::{Identity, ROLES_HEADER, SUBJECT_HEADER};
use service_kit::money::Money;
use uuid::Uuid;

use crate::config::Upstreams;

/// A product as catalog shows it (the fields checkout needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CatalogProduct {
    /// Product id.
    pub id: Uuid,
    /// SKU.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Current price (a product whose price is no valid amount does not parse).
    pub price: Money,
    /// Whether it can be sold.
    pub active: bool,
}

#[derive(Debug, Deserialize)]
struct UserProfile {
    email: String,
    name: String,
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserContact {
    email: String,
    name: String,
    phone: Option<String>,
    preferences: UserPreferences,
}

#[derive(Debug, Deserialize)]
struct UserPreferences {
    email_notifications: bool,
    sms_notifications: bool,
    locale: String,
}

/// HTTP clients for catalog and users.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    catalog: String,
    users: String,
}

fn gone() -> ApiError {
    ApiError::Unauthorized("this account no longer exists; sign in again".into())
}

fn snapshot(
    email: String,
    name: String,
    phone: Option<String>,
    preferences: UserPreferences,
) -> Contact {
    Contact {
        email,
        notify_sms: preferences.sms_notifications && phone.is_some(),
        phone,
        name,
        locale: preferences.locale,
        notify_email: preferences.email_notifications,
    }
}

fn unavailable(service: &str, err: impl std::fmt::Display) -> ApiError {
    tracing::warn!(upstream = service, error = %err, "upstream call failed");
    ApiError::Unavailable(format!(
        "the {service} service did not answer; try again shortly"
    ))
}

impl Upstream {
    /// Clients with the configured timeout.
    pub fn new(settings: &Upstreams) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            catalog: settings.catalog_url.trim_end_matches('/').to_owned(),
            users: settings.users_url.trim_end_matches('/').to_owned(),
        })
    }

    fn headers(identity: &Identity) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = identity.subject.parse() {
            headers.insert(SUBJECT_HEADER, value);
        }
        if let Ok(value) = identity.roles.join(",").parse() {
            headers.insert(ROLES_HEADER, value);
        }
        service_kit::telemetry::inject_current(&mut headers);
        headers
    }

    /// The product with this SKU, or `None` when catalog does not know it.
    pub async fn product(
        &self,
        identity: &Identity,
        sku: &str,
    ) -> Result<Option<CatalogProduct>, ApiError> {
        let response = self
            .client
            .get(format!("{}/products/by-sku/{sku}", self.catalog))
            .headers(Self::headers(identity))
            .send()
            .await
            .map_err(|e| unavailable("catalog", e))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => response
                .json()
                .await
                .map(Some)
                .map_err(|e| unavailable("catalog", e)),
            status => Err(unavailable("catalog", format!("status {status}"))),
        }
    }

    /// The shopper's contact snapshot: profile plus notification preferences, in one call.
    pub async fn contact(&self, identity: &Identity) -> Result<Contact, ApiError> {
        let response = self
            .client
            .get(format!("{}/me/contact", self.users))
            .headers(Self::headers(identity))
            .send()
            .await
            .map_err(|e| unavailable("users", e))?;
        match response.status() {
            s if s.is_success() => {}
            // A users release older than `/me/contact` (during a rolling deploy), or an
            // account that is gone: the two older routes tell which.
            reqwest::StatusCode::NOT_FOUND => return self.contact_from_profile(identity).await,
            reqwest::StatusCode::UNAUTHORIZED => return Err(gone()),
            s => return Err(unavailable("users", format!("status {s}"))),
        }
        let contact: UserContact = response.json().await.map_err(|e| unavailable("users", e))?;
        Ok(snapshot(
            contact.email,
            contact.name,
            contact.phone,
            contact.preferences,
        ))
    }

    /// The contact snapshot from `/me` and `/me/preferences`.
    async fn contact_from_profile(&self, identity: &Identity) -> Result<Contact, ApiError> {
        let profile = self.client.get(format!("{}/me", self.users));
        let preferences = self.client.get(format!("{}/me/preferences", self.users));
        let (profile, preferences) = tokio::try_join!(
            profile.headers(Self::headers(identity)).send(),
            preferences.headers(Self::headers(identity)).send()
        )
        .map_err(|e| unavailable("users", e))?;
        for response in [&profile, &preferences] {
            match response.status() {
                s if s.is_success() => {}
                reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::UNAUTHORIZED => {
                    return Err(gone());
                }
                s => return Err(unavailable("users", format!("status {s}"))),
            }
        }
        let profile: UserProfile = profile.json().await.map_err(|e| unavailable("users", e))?;
        let preferences: UserPreferences = preferences
            .json()
            .await
            .map_err(|e| unavailable("users", e))?;
        Ok(snapshot(
            profile.email,
            profile.name,
            profile.phone,
            preferences,
        ))
    }
}
