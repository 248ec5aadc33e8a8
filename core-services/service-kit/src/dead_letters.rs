//! The admin API of a service's dead letters, mounted by every service that consumes events
//! (the gateway exposes it as `/api/v1/admin/dead-letters/<service>/...`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /admin/dead-letters` | `{"items": [{"queue", "depth"}]}` for each of the service's queues |
//! | `GET /admin/dead-letters/{queue}` | `{"items": [{"id", "event_type", "error", "body"}]}` |
//! | `POST /admin/dead-letters/{queue}/{id}/replay` | `{"replayed": n}`: back to the queue for new attempts |
//! | `DELETE /admin/dead-letters/{queue}/{id}` | 204: removed for good |
//!
//! Every route requires the `admin` role. Each request opens its own broker channel: these are
//! rare operator actions, and the consumers' channels stay untouched. [`ApiDoc`] documents the
//! routes; each service merges it into its own document.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::identity::Admin;
use crate::messaging::{self, DeadLetter};

/// The dead-letter routes' part of a service's API document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list_queues, list_letters, replay, discard),
    components(schemas(QueueDepth, QueueDepths, Letter, Letters, Replayed))
)]
pub struct ApiDoc;

/// The dead-letter routes as a document of their own, for a service with no other API (the
/// bridge).
pub fn document(title: &str) -> utoipa::openapi::OpenApi {
    let mut document = <ApiDoc as utoipa::OpenApi>::openapi();
    document.info.title = title.to_owned();
    document
}

/// One of the service's queues and how many letters its dead-letter queue holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueDepth {
    /// The consumer queue.
    pub queue: String,
    /// Letters parked in `<queue>.dlq`.
    pub depth: u32,
}

/// `GET /admin/dead-letters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueDepths {
    /// One per queue.
    pub items: Vec<QueueDepth>,
}

/// One parked message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Letter {
    /// Message (event) id.
    pub id: String,
    /// Event type, when the body is an envelope.
    pub event_type: Option<String>,
    /// Why it was parked.
    pub error: Option<String>,
    /// The body: JSON as received, or the text of a body that is not JSON.
    pub body: Value,
}

/// `GET /admin/dead-letters/{queue}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Letters {
    /// The parked messages, oldest first.
    pub items: Vec<Letter>,
}

/// `POST /admin/dead-letters/{queue}/{id}/replay`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// How many messages went back to the queue.
    pub replayed: usize,
}

#[derive(Debug, Clone)]
struct DeadLetters {
    amqp_url: SecretString,
    queues: Vec<String>,
}

/// The routes for the dead letters of the queue `settings` consume from.
pub fn of(settings: &crate::config::AmqpSettings) -> Router {
    routes(settings.url.expose_secret(), vec![settings.queue.clone()])
}

/// The routes for the dead letters of `queues` (the service's own consumer queues).
pub fn routes(amqp_url: &str, queues: Vec<String>) -> Router {
    Router::new()
        .route("/admin/dead-letters", get(list_queues))
        .route("/admin/dead-letters/{queue}", get(list_letters))
        .route("/admin/dead-letters/{queue}/{id}/replay", post(replay))
        .route("/admin/dead-letters/{queue}/{id}", delete(discard))
        .with_state(DeadLetters {
            amqp_url: SecretString::from(amqp_url),
            queues,
        })
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %err, "dead letters: broker unavailable");
    ApiError::Unavailable("the message broker is unavailable; try again".into())
}

impl DeadLetters {
    fn known(&self, queue: &str) -> Result<(), ApiError> {
        if self.queues.iter().any(|q| q == queue) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no queue {queue} here")))
        }
    }

    async fn channel(&self) -> Result<(lapin::Connection, lapin::Channel), ApiError> {
        messaging::connect(self.amqp_url.expose_secret())
            .await
            .map_err(unavailable)
    }
}

fn letter_of(letter: &DeadLetter) -> Letter {
    let body = serde_json::from_slice::<Value>(&letter.body)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&letter.body).into_owned()));
    Letter {
        id: letter.id.clone(),
        event_type: letter.event_type.clone(),
        error: letter.error.clone(),
        body,
    }
}

/// The service's queues and the depth of each one's dead-letter queue.
#[utoipa::path(get, path = "/admin/dead-letters", tag = "admin",
    responses(
        (status = 200, description = "Depth per queue", body = QueueDepths),
        crate::openapi::responses::NotAdmin,
        crate::openapi::responses::BrokerUnavailable,
    ))]
async fn list_queues(
    _admin: Admin,
    State(state): State<DeadLetters>,
) -> Result<Json<QueueDepths>, ApiError> {
    let (_connection, channel) = state.channel().await?;
    let mut items = Vec::new();
    for queue in &state.queues {
        let dlq = format!("{queue}.dlq");
        let declared = channel
            .queue_declare(
                dlq.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        items.push(QueueDepth {
            queue: queue.clone(),
            depth: declared.message_count(),
        });
    }
    Ok(Json(QueueDepths { items }))
}

/// The letters parked for one queue.
#[utoipa::path(get, path = "/admin/dead-letters/{queue}", tag = "admin",
    params(("queue" = String, Path, description = "One of the service's consumer queues")),
    responses(
        (status = 200, description = "The parked letters", body = Letters),
        crate::openapi::responses::NotAdmin,
        (status = 404, description = "No such queue here", body = crate::Problem, content_type = "application/problem+json"),
        crate::openapi::responses::BrokerUnavailable,
    ))]
async fn list_letters(
    _admin: Admin,
    State(state): State<DeadLetters>,
    Path(queue): Path<String>,
) -> Result<Json<Letters>, ApiError> {
    state.known(&queue)?;
    let (_connection, channel) = state.channel().await?;
    let letters = messaging::list_dead_letters(&channel, &queue)
        .await
        .map_err(unavailable)?;
    Ok(Json(Letters {
        items: letters.iter().map(letter_of).collect(),
    }))
}

/// Sends one letter back to its queue for new attempts.
#[utoipa::path(post, path = "/admin/dead-letters/{queue}/{id}/replay", tag = "admin",
    params(
        ("queue" = String, Path, description = "One of the service's consumer queues"),
        ("id" = String, Path, description = "The letter's message id"),
    ),
    responses(
        (status = 200, description = "Replayed", body = Replayed),
        crate::openapi::responses::NotAdmin,
        (status = 404, description = "No such queue or letter", body = crate::Problem, content_type = "application/problem+json"),
        crate::openapi::responses::BrokerUnavailable,
    ))]
async fn replay(
    Admin(admin): Admin,
    State(state): State<DeadLetters>,
    Path((queue, id)): Path<(String, String)>,
) -> Result<Json<Replayed>, ApiError> {
    state.known(&queue)?;
    let (_connection, channel) = state.channel().await?;
    let replayed = messaging::replay_dead_letters(&channel, &queue, Some(&id))
        .await
        .map_err(unavailable)?;
    if replayed == 0 {
        return Err(ApiError::NotFound(format!(
            "no dead letter {id} in {queue}"
        )));
    }
    tracing::info!(queue, id, by = %admin.subject, "dead letter replayed");
    Ok(Json(Replayed { replayed }))
}

/// Removes one letter for good.
#[utoipa::path(delete, path = "/admin/dead-letters/{queue}/{id}", tag = "admin",
    params(
        ("queue" = String, Path, description = "One of the service's consumer queues"),
        ("id" = String, Path, description = "The letter's message id"),
    ),
    responses(
        (status = 204, description = "Discarded"),
        crate::openapi::responses::NotAdmin,
        (status = 404, description = "No such queue or letter", body = crate::Problem, content_type = "application/problem+json"),
        crate::openapi::responses::BrokerUnavailable,
    ))]
async fn discard(
    Admin(admin): Admin,
    State(state): State<DeadLetters>,
    Path((queue, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.known(&queue)?;
    let (_connection, channel) = state.channel().await?;
    let discarded = messaging::discard_dead_letters(&channel, &queue, Some(&id))
        .await
        .map_err(unavailable)?;
    if discarded.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no dead letter {id} in {queue}"
        )));
    }
    tracing::info!(queue, id, by = %admin.subject, "dead letter discarded");
    Ok(StatusCode::NO_CONTENT.into_response())
}
