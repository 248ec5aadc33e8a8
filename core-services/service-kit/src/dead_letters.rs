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
//! rare operator actions, and the consumers' channels stay untouched.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::identity::Admin;
use crate::messaging::{self, DeadLetter};

#[derive(Debug, Clone)]
struct DeadLetters {
    amqp_url: String,
    queues: Vec<String>,
}

/// The routes for the dead letters of `queues` (the service's own consumer queues).
pub fn routes(amqp_url: &str, queues: Vec<String>) -> Router {
    Router::new()
        .route("/admin/dead-letters", get(list_queues))
        .route("/admin/dead-letters/{queue}", get(list_letters))
        .route("/admin/dead-letters/{queue}/{id}/replay", post(replay))
        .route("/admin/dead-letters/{queue}/{id}", delete(discard))
        .with_state(DeadLetters {
            amqp_url: amqp_url.to_owned(),
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
        messaging::connect(&self.amqp_url)
            .await
            .map_err(unavailable)
    }
}

fn letter_json(letter: &DeadLetter) -> Value {
    let body = serde_json::from_slice::<Value>(&letter.body)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&letter.body).into_owned()));
    json!({
        "id": letter.id,
        "event_type": letter.event_type,
        "error": letter.error,
        "body": body,
    })
}

async fn list_queues(
    _admin: Admin,
    State(state): State<DeadLetters>,
) -> Result<Json<Value>, ApiError> {
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
        items.push(json!({"queue": queue, "depth": declared.message_count()}));
    }
    Ok(Json(json!({ "items": items })))
}

async fn list_letters(
    _admin: Admin,
    State(state): State<DeadLetters>,
    Path(queue): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.known(&queue)?;
    let (_connection, channel) = state.channel().await?;
    let letters = messaging::list_dead_letters(&channel, &queue)
        .await
        .map_err(unavailable)?;
    Ok(Json(
        json!({ "items": letters.iter().map(letter_json).collect::<Vec<_>>() }),
    ))
}

async fn replay(
    Admin(admin): Admin,
    State(state): State<DeadLetters>,
    Path((queue, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({ "replayed": replayed })))
}

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
