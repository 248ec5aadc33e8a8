//! # webhook-admin
//!
//! The admin API of partner webhooks, a Lambda function behind the gateway
//! (`/api/v1/admin/webhooks...` maps to `/admin/webhooks...` here). The gateway verifies the
//! caller's token and invokes the function through the Lambda API with the caller's identity
//! in `x-auth-*` headers; only the gateway's role may invoke it, and every route requires the
//! `admin` role.
//!
//! | route | answer |
//! |---|---|
//! | `GET /admin/webhooks?limit=&cursor=` | a page of subscriptions, newest first |
//! | `POST /admin/webhooks` `{url, event_types, description}` | 201, the subscription and its secret (shown once) |
//! | `GET /admin/webhooks/{id}` | the subscription |
//! | `POST /admin/webhooks/{id}/rotate-secret` | a new secret; the old one keeps signing for 24 h |
//! | `POST /admin/webhooks/{id}/disable`, `/enable` | the subscription |
//! | `GET /admin/webhooks/{id}/deliveries?limit=&cursor=` | a page of the delivery log, newest first |
//! | `GET /openapi.json` | this API's OpenAPI document (merged into the gateway's) |

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::error::{ApiError, FieldError};
use service_kit::extract::{ApiJson, ApiQuery};
use service_kit::identity::Admin;
use utoipa::OpenApi as _;
use webhooks::store::{Delivery, MAX_EVENT_TYPES, Status, Store, StoreError, Subscription};

/// Environment variables the function reads.
pub mod env {
    /// Subscriptions table.
    pub const SUBSCRIPTIONS_TABLE: &str = "SUBSCRIPTIONS_TABLE";
    /// Delivery log table.
    pub const DELIVERIES_TABLE: &str = "DELIVERIES_TABLE";
    /// Prefix of the endpoint secrets' names.
    pub const WEBHOOK_SECRET_PREFIX: &str = "WEBHOOK_SECRET_PREFIX";
    /// `true` accepts endpoints on private addresses and plain http (local development only).
    pub const ALLOW_PRIVATE_ENDPOINTS: &str = "ALLOW_PRIVATE_ENDPOINTS";
    /// The KMS key new endpoint secrets are encrypted with (optional).
    pub const WEBHOOK_SECRET_KMS_KEY: &str = "WEBHOOK_SECRET_KMS_KEY";
}

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Longest endpoint URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// Largest page.
pub const MAX_PAGE: i32 = 100;

/// The function's dependencies.
#[derive(Debug, Clone)]
pub struct AdminApi {
    /// Subscriptions, secrets and the delivery log.
    pub store: Store,
    /// Whether endpoints may be private (local development).
    pub allow_private: bool,
}

impl AdminApi {
    /// From the AWS configuration and the environment.
    pub fn from_env(config: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let var = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("{k} is not set"));
        let mut api = Self::new(
            config,
            &var(env::SUBSCRIPTIONS_TABLE)?,
            &var(env::DELIVERIES_TABLE)?,
            &var(env::WEBHOOK_SECRET_PREFIX)?,
            std::env::var(env::ALLOW_PRIVATE_ENDPOINTS).is_ok_and(|v| v == "true"),
        );
        api.store = api
            .store
            .with_secret_kms_key(std::env::var(env::WEBHOOK_SECRET_KMS_KEY).ok());
        Ok(api)
    }

    /// From explicit settings.
    pub fn new(
        config: &aws_config::SdkConfig,
        subscriptions: &str,
        deliveries: &str,
        secret_prefix: &str,
        allow_private: bool,
    ) -> Self {
        Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(config),
                aws_sdk_secretsmanager::Client::new(config),
                subscriptions,
                deliveries,
                secret_prefix,
            ),
            allow_private,
        }
    }
}

/// The routes.
pub fn router(api: AdminApi) -> Router {
    Router::new()
        .route("/admin/webhooks", get(list).post(create))
        .route("/admin/webhooks/{id}", get(show))
        .route("/admin/webhooks/{id}/rotate-secret", post(rotate))
        .route("/admin/webhooks/{id}/disable", post(disable))
        .route("/admin/webhooks/{id}/enable", post(enable))
        .route("/admin/webhooks/{id}/deliveries", get(deliveries))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(api)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_error)`
fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::BadCursor => ApiError::bad_field("cursor", "not a cursor this API handed out"),
        StoreError::Aws(detail) => {
            tracing::error!(error = %detail, "webhook store failed");
            ApiError::Unavailable("the webhook store is unavailable; try again".into())
        }
    }
}

/// The webhook admin API, as the gateway merges it into the public document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "webhook-admin",
        description = "Partner webhook subscriptions: create, rotate the secret, disable, enable, delivery log."
    ),
    paths(list, create, show, rotate, disable, enable, deliveries),
    components(schemas(
        NewSubscription,
        WithSecret,
        Page<Subscription>,
        Page<Delivery>,
        Subscription,
        Delivery,
        Status,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;

/// A page of items.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Paging {
    fn limit(&self) -> Result<i32, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_field(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            )),
        }
    }
}

/// A new subscription.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Endpoint URL: https (http too where private addresses are allowed, in local runs), at
    /// most 2,048 characters, whose host resolves to public addresses only (the address guard).
    #[schema(max_length = 2048, pattern = "^https?://")]
    pub url: String,
    /// Event types; empty subscribes to every event.
    #[serde(default)]
    #[schema(schema_with = event_types_schema)]
    pub event_types: Vec<String>,
    /// What the partner uses it for, at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
}

/// Event types a partner may subscribe to (account events never leave the platform).
fn event_types_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .description(Some("Event types; empty subscribes to every event"))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(events::payloads::subscribable_types())),
        )
        .build()
}

/// A subscription with its secret, answered once on create and rotate.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WithSecret {
    /// The subscription.
    pub subscription: Subscription,
    /// Its signing secret (`whsec_...`).
    pub secret: String,
}

/// Subscriptions, newest first.
#[utoipa::path(get, path = "/admin/webhooks", tag = "admin", params(Paging),
    responses(
        (status = 200, description = "A page of subscriptions", body = Page<Subscription>),
        (status = 400, description = "Bad limit or cursor", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::NotAdmin,
    ))]
async fn list(
    _admin: Admin,
    State(api): State<AdminApi>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Subscription>>, ApiError> {
    let (items, next_cursor) = api
        .store
        .list(paging.limit()?, paging.cursor.as_deref())
        .await
        .map_err(store_error)?;
    Ok(Json(Page { items, next_cursor }))
}

/// Checks a new subscription; answers the deduplicated event types.
pub async fn validate(
    new: &NewSubscription,
    allow_private: bool,
) -> Result<Vec<String>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let url = new.url.trim();
    if url.is_empty() {
        errors.push(FieldError::new("url", "is required"));
    } else if url.len() > MAX_URL_LEN {
        errors.push(FieldError::new(
            "url",
            format!("must be at most {MAX_URL_LEN} characters"),
        ));
    } else if let Err(reason) = webhooks::ssrf::check(url, allow_private).await {
        errors.push(FieldError::new("url", reason));
    }
    // Account events carry personal data and sealed tokens: never to partners.
    let known = events::payloads::subscribable_types();
    let mut types: Vec<String> = Vec::new();
    for (i, event_type) in new.event_types.iter().enumerate() {
        if !known.contains(&event_type.as_str()) {
            errors.push(FieldError::new(
                format!("event_types[{i}]"),
                format!("unknown event type `{event_type}`"),
            ));
        } else if !types.contains(event_type) {
            types.push(event_type.clone());
        }
    }
    if types.len() > MAX_EVENT_TYPES {
        errors.push(FieldError::new(
            "event_types",
            format!("at most {MAX_EVENT_TYPES} event types"),
        ));
    }
    if new.description.chars().count() > MAX_DESCRIPTION_LEN {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    if errors.is_empty() {
        Ok(types)
    } else {
        Err(errors)
    }
}

/// Subscribes an endpoint; the answer carries its signing secret, shown only here.
#[utoipa::path(post, path = "/admin/webhooks", tag = "admin", request_body = NewSubscription,
    responses(
        (status = 201, description = "Created; `Location` set; the secret is shown once", body = WithSecret),
        (status = 422, description = "A field is invalid (URL refused by the address guard, unknown event type, ...)", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::NotAdmin,
    ))]
async fn create(
    Admin(admin): Admin,
    State(api): State<AdminApi>,
    ApiJson(new): ApiJson<NewSubscription>,
) -> Result<Response, ApiError> {
    let types = validate(&new, api.allow_private)
        .await
        .map_err(ApiError::Validation)?;
    let (subscription, secret) = api
        .store
        .create(new.url.trim(), &types, new.description.trim())
        .await
        .map_err(store_error)?;
    tracing::info!(subscription = %subscription.id, by = %admin.subject, "webhook subscription created");
    let location = format!("/admin/webhooks/{}", subscription.id);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        Json(WithSecret {
            subscription,
            secret,
        }),
    )
        .into_response())
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no webhook subscription {id}"))
}

/// One subscription.
#[utoipa::path(get, path = "/admin/webhooks/{id}", tag = "admin",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription", body = Subscription),
        (status = 404, description = "No such subscription", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
async fn show(
    _admin: Admin,
    State(api): State<AdminApi>,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    api.store
        .get(&id)
        .await
        .map_err(store_error)?
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

/// A new signing secret; the previous one keeps signing (a second `v1,` signature) for 24 h.
#[utoipa::path(post, path = "/admin/webhooks/{id}/rotate-secret", tag = "admin",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription and its new secret, shown once", body = WithSecret),
        (status = 404, description = "No such subscription", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
async fn rotate(
    Admin(admin): Admin,
    State(api): State<AdminApi>,
    Path(id): Path<String>,
) -> Result<Json<WithSecret>, ApiError> {
    let (subscription, secret) = api
        .store
        .rotate_secret(&id, ROTATION_GRACE)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(&id))?;
    tracing::info!(subscription = %id, by = %admin.subject, "webhook secret rotated");
    Ok(Json(WithSecret {
        subscription,
        secret,
    }))
}

async fn set_status(
    api: &AdminApi,
    id: &str,
    status: Status,
    by: &str,
) -> Result<Json<Subscription>, ApiError> {
    let reason = format!("disabled by {by}");
    let subscription = api
        .store
        .set_status(
            id,
            status,
            (status == Status::Disabled).then_some(reason.as_str()),
        )
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(subscription = %id, status = status.label(), by, "webhook subscription status set");
    Ok(Json(subscription))
}

/// Stops deliveries to the endpoint.
#[utoipa::path(post, path = "/admin/webhooks/{id}/disable", tag = "admin",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription, disabled", body = Subscription),
        (status = 404, description = "No such subscription", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
async fn disable(
    Admin(admin): Admin,
    State(api): State<AdminApi>,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    set_status(&api, &id, Status::Disabled, &admin.subject).await
}

/// Resumes deliveries to the endpoint.
#[utoipa::path(post, path = "/admin/webhooks/{id}/enable", tag = "admin",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription, active", body = Subscription),
        (status = 404, description = "No such subscription", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
async fn enable(
    Admin(admin): Admin,
    State(api): State<AdminApi>,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    set_status(&api, &id, Status::Active, &admin.subject).await
}

/// The endpoint's delivery log, newest first: every attempt with its outcome.
#[utoipa::path(get, path = "/admin/webhooks/{id}/deliveries", tag = "admin",
    params(("id" = String, Path, description = "Subscription id"), Paging),
    responses(
        (status = 200, description = "A page of delivery attempts", body = Page<Delivery>),
        (status = 404, description = "No such subscription", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
async fn deliveries(
    _admin: Admin,
    State(api): State<AdminApi>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let limit = paging.limit()?;
    if api.store.get(&id).await.map_err(store_error)?.is_none() {
        return Err(not_found(&id));
    }
    let (items, next_cursor) = api
        .store
        .deliveries(&id, limit, paging.cursor.as_deref())
        .await
        .map_err(store_error)?;
    Ok(Json(Page { items, next_cursor }))
}
