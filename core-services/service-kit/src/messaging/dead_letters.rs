//! Dead letters: the messages parked in a consumer's `<queue>.dlq`, listed, replayed to the
//! queue for new attempts, or discarded.

use events::Attributes;
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};

use super::{ERROR_HEADER, MessagingError, header_text, publish_confirmed, timed};

/// A message parked in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Message (event) id.
    pub id: String,
    /// Event type, when the body is an envelope.
    pub event_type: Option<String>,
    /// Why it was parked (`x-error`).
    pub error: Option<String>,
    /// The body as received.
    pub body: Vec<u8>,
}

fn dead_letter_of(message: &lapin::message::BasicGetMessage) -> DeadLetter {
    let properties = &message.delivery.properties;
    DeadLetter {
        id: properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        event_type: Attributes::peek(&message.delivery.data)
            .ok()
            .map(|a| a.event_type),
        error: header_text(properties.headers().as_ref(), ERROR_HEADER),
        body: message.delivery.data.clone(),
    }
}

/// Walks the dead-letter queue of `queue` once: `act` decides per message whether to take it
/// out (`true`) or leave it parked; returns the messages taken.
async fn walk_dead_letters<F, Fut>(
    channel: &Channel,
    queue: &str,
    mut act: F,
) -> Result<Vec<DeadLetter>, MessagingError>
where
    F: FnMut(DeadLetter) -> Fut,
    Fut: Future<Output = Result<Option<DeadLetter>, MessagingError>>,
{
    let dlq = format!("{queue}.dlq");
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    // Held messages stay unacknowledged until the walk ends, so each is seen once.
    loop {
        let Some(message) =
            timed(channel.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: false }))
                .await?
        else {
            break;
        };
        let letter = dead_letter_of(&message);
        match act(letter).await? {
            Some(letter) => {
                timed(message.delivery.ack(BasicAckOptions::default())).await?;
                taken.push(letter);
            }
            None => kept.push(message),
        }
    }
    // Messages left alone go back to the queue, in order.
    for message in kept.into_iter().rev() {
        timed(message.delivery.nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        }))
        .await?;
    }
    Ok(taken)
}

/// The messages parked for `queue`, without removing them.
pub async fn list_dead_letters(
    channel: &Channel,
    queue: &str,
) -> Result<Vec<DeadLetter>, MessagingError> {
    let mut seen = Vec::new();
    walk_dead_letters(channel, queue, |letter| {
        seen.push(letter);
        async { Ok(None) }
    })
    .await?;
    Ok(seen)
}

/// Sends parked messages (all, or the one with `only_id`) back to `queue` for another set of
/// attempts; returns how many went back.
pub async fn replay_dead_letters(
    channel: &Channel,
    queue: &str,
    only_id: Option<&str>,
) -> Result<usize, MessagingError> {
    let taken = walk_dead_letters(channel, queue, |letter| async move {
        if only_id.is_some_and(|id| id != letter.id) {
            return Ok(None);
        }
        let mut headers = FieldTable::default();
        headers.insert("x-replayed".into(), AMQPValue::LongString("true".into()));
        publish_confirmed(channel, "", queue, &letter.body, headers, &letter.id).await?;
        Ok(Some(letter))
    })
    .await?;
    Ok(taken.len())
}

/// Removes parked messages (all, or the one with `only_id`) for good; returns them.
pub async fn discard_dead_letters(
    channel: &Channel,
    queue: &str,
    only_id: Option<&str>,
) -> Result<Vec<DeadLetter>, MessagingError> {
    let taken = walk_dead_letters(channel, queue, |letter| async move {
        Ok(if only_id.is_some_and(|id| id != letter.id) {
            None
        } else {
            Some(letter)
        })
    })
    .await?;
    Ok(taken)
}
