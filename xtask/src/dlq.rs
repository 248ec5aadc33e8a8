//! `cargo xtask dlq ...`: dead-letter queues for operators. Every consumer queue `<q>` has a
//! `<q>.dlq`; messages there failed every attempt or could not be read, with the reason in
//! their `x-error` header.

use anyhow::{Context, bail};
use service_kit::messaging;

use crate::infra::AMQP_URL;
use crate::util;

fn amqp_url() -> String {
    std::env::var("APP__AMQP__URL").unwrap_or_else(|_| AMQP_URL.to_owned())
}

/// Dispatches `dlq <action> ...`.
pub async fn run(flags: &[&str]) -> anyhow::Result<()> {
    let (action, rest) = flags
        .split_first()
        .context("usage: cargo xtask dlq list|show|replay|discard")?;
    if *action == "list" {
        let output = util::run(
            "rabbitmqctl",
            &[
                "list_queues",
                "name",
                "messages",
                "--quiet",
                "--no-table-headers",
            ],
        )
        .context("listing queues needs rabbitmqctl on this machine")?;
        let mut found = false;
        for line in output.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(name), Some(count)) = (parts.next(), parts.next())
                && let Some(queue) = name.strip_suffix(".dlq")
            {
                println!("{queue:<40} {count:>8} parked");
                found = true;
            }
        }
        if !found {
            println!("no dead-letter queues");
        }
        return Ok(());
    }
    let (queue, options) = rest
        .split_first()
        .context("name the consumer queue, e.g. `inventory`")?;
    let only_id = match options {
        [] => None,
        ["--id", id] => Some(*id),
        other => bail!("unexpected arguments {other:?}; use --id <message id>"),
    };
    let (_connection, channel) = messaging::connect(&amqp_url()).await?;
    match *action {
        "show" => {
            let letters = messaging::list_dead_letters(&channel, queue).await?;
            for letter in &letters {
                println!(
                    "{}  {}  {}\n    {}",
                    letter.id,
                    letter.event_type.as_deref().unwrap_or("(not an event)"),
                    letter.error.as_deref().unwrap_or("(no reason recorded)"),
                    String::from_utf8_lossy(&letter.body)
                );
            }
            println!("{} parked in {queue}.dlq", letters.len());
        }
        "replay" => {
            let n = messaging::replay_dead_letters(&channel, queue, only_id).await?;
            println!("{n} sent back to {queue}");
        }
        "discard" => {
            let gone = messaging::discard_dead_letters(&channel, queue, only_id).await?;
            println!("{} discarded from {queue}.dlq", gone.len());
        }
        other => bail!("unknown dlq action `{other}` (list, show, replay, discard)"),
    }
    Ok(())
}
