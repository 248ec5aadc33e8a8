//! The AWS side of the event flow, as data (`functions/topology.json`): the SNS topic, one SQS
//! queue per function (raw delivery, a filter policy on `event_type`, a DLQ after
//! `max_receive_count` receives), the DynamoDB tables and the SES sender. Terraform's
//! `messaging` module declares the same (a test compares them); locally [`ensure`] creates it
//! on moto, optionally under a name prefix so tests do not share resources.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;

/// The committed topology.
pub const TOPOLOGY_JSON: &str = include_str!("../../topology.json");

/// One function's queue.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueSpec {
    /// Queue name (its DLQ is `<name>-dlq`).
    pub name: String,
    /// The function the queue feeds.
    pub function: String,
    /// Event types the subscription lets through (empty: every event).
    pub event_types: Vec<String>,
    /// Visibility timeout (longer than the function's timeout).
    pub visibility_timeout_seconds: u32,
    /// Receives before a message moves to the DLQ.
    pub max_receive_count: u32,
}

/// One DynamoDB table.
#[derive(Debug, Clone, Deserialize)]
pub struct TableSpec {
    /// Table name.
    pub name: String,
    /// Partition key (string).
    pub hash_key: String,
    /// Sort key (string), if any.
    #[serde(default)]
    pub range_key: Option<String>,
    /// TTL attribute, if any.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// Global secondary indexes (string keys, all attributes projected).
    #[serde(default)]
    pub indexes: Vec<IndexSpec>,
}

/// A global secondary index.
#[derive(Debug, Clone, Deserialize)]
pub struct IndexSpec {
    /// Index name.
    pub name: String,
    /// Partition key.
    pub hash_key: String,
    /// Sort key.
    #[serde(default)]
    pub range_key: Option<String>,
}

/// Everything.
#[derive(Debug, Clone, Deserialize)]
pub struct Topology {
    /// SNS topic name.
    pub topic: String,
    /// Queues.
    pub queues: Vec<QueueSpec>,
    /// Queues written directly by a producer (no subscription), each with a DLQ.
    #[serde(default)]
    pub standalone_queues: Vec<String>,
    /// Tables.
    pub tables: Vec<TableSpec>,
    /// Verified SES sender address.
    pub ses_sender: String,
}

impl Topology {
    /// The committed topology.
    pub fn committed() -> anyhow::Result<Self> {
        Ok(serde_json::from_str(TOPOLOGY_JSON)?)
    }

    /// The subscription filter policy of a queue (no event types: every event).
    pub fn filter_policy(queue: &QueueSpec) -> String {
        if queue.event_types.is_empty() {
            serde_json::json!({ "event_type": [{ "exists": true }] }).to_string()
        } else {
            serde_json::json!({ "event_type": queue.event_types }).to_string()
        }
    }
}

/// What [`ensure`] created (names include the prefix).
#[derive(Debug, Clone, Default)]
pub struct Created {
    /// Topic ARN.
    pub topic_arn: String,
    /// Queue URL by unprefixed queue name.
    pub queue_urls: BTreeMap<String, String>,
    /// DLQ URL by unprefixed queue name.
    pub dlq_urls: BTreeMap<String, String>,
    /// Table name by unprefixed table name.
    pub tables: BTreeMap<String, String>,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Creates (idempotently) every resource of `topology`, each name prefixed with `prefix`.
pub async fn ensure(
    config: &SdkConfig,
    topology: &Topology,
    prefix: &str,
) -> anyhow::Result<Created> {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    let ses = aws_sdk_sesv2::Client::new(config);
    let mut created = Created::default();
    let topic = sns
        .create_topic()
        .name(format!("{prefix}{}", topology.topic))
        .send()
        .await
        .map_err(|e| err(aws_sdk_sns::error::DisplayErrorContext(e)))?;
    created.topic_arn = topic.topic_arn().unwrap_or_default().to_owned();

    for queue in &topology.queues {
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{prefix}{}-dlq", queue.name))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": queue.max_receive_count.to_string(),
        });
        let url = sqs
            .create_queue()
            .queue_name(format!("{prefix}{}", queue.name))
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                queue.visibility_timeout_seconds.to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let arn = queue_arn(&sqs, &url).await?;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": created.topic_arn}}
            }]
        });
        sqs.set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        sns.subscribe()
            .topic_arn(&created.topic_arn)
            .protocol("sqs")
            .endpoint(&arn)
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", Topology::filter_policy(queue))
            .send()
            .await
            .map_err(|e| err(aws_sdk_sns::error::DisplayErrorContext(e)))?;
        created.queue_urls.insert(queue.name.clone(), url);
        created.dlq_urls.insert(queue.name.clone(), dlq_url);
    }

    for name in &topology.standalone_queues {
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{prefix}{name}-dlq"))
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let redrive = serde_json::json!({
            "deadLetterTargetArn": queue_arn(&sqs, &dlq_url).await?,
            "maxReceiveCount": "5",
        });
        let url = sqs
            .create_queue()
            .queue_name(format!("{prefix}{name}"))
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        created.queue_urls.insert(name.clone(), url);
        created.dlq_urls.insert(name.clone(), dlq_url);
    }

    for table in &topology.tables {
        let name = format!("{prefix}{}", table.name);
        let mut definitions = vec![
            AttributeDefinition::builder()
                .attribute_name(&table.hash_key)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        ];
        let mut keys = vec![
            KeySchemaElement::builder()
                .attribute_name(&table.hash_key)
                .key_type(KeyType::Hash)
                .build()?,
        ];
        if let Some(range) = &table.range_key {
            definitions.push(
                AttributeDefinition::builder()
                    .attribute_name(range)
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            );
            keys.push(
                KeySchemaElement::builder()
                    .attribute_name(range)
                    .key_type(KeyType::Range)
                    .build()?,
            );
        }
        let mut indexes = Vec::new();
        for index in &table.indexes {
            let mut schema = vec![
                KeySchemaElement::builder()
                    .attribute_name(&index.hash_key)
                    .key_type(KeyType::Hash)
                    .build()?,
            ];
            if let Some(range) = &index.range_key {
                schema.push(
                    KeySchemaElement::builder()
                        .attribute_name(range)
                        .key_type(KeyType::Range)
                        .build()?,
                );
            }
            for key in std::iter::once(&index.hash_key).chain(index.range_key.as_ref()) {
                if !definitions.iter().any(|d| d.attribute_name() == key) {
                    definitions.push(
                        AttributeDefinition::builder()
                            .attribute_name(key)
                            .attribute_type(ScalarAttributeType::S)
                            .build()?,
                    );
                }
            }
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(schema))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            );
        }
        let result = dynamo
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(definitions))
            .set_key_schema(Some(keys))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .send()
            .await;
        if let Err(e) = result {
            let service = e.into_service_error();
            if !service.is_resource_in_use_exception() {
                return Err(err(aws_sdk_dynamodb::error::DisplayErrorContext(service)));
            }
        }
        if let Some(ttl) = &table.ttl_attribute {
            dynamo
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(ttl)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        created.tables.insert(table.name.clone(), name);
    }

    ses.create_email_identity()
        .email_identity(&topology.ses_sender)
        .send()
        .await
        .map(|_| ())
        .or_else(|e| {
            let service = e.into_service_error();
            if service.is_already_exists_exception() {
                Ok(())
            } else {
                Err(err(aws_sdk_sesv2::error::DisplayErrorContext(service)))
            }
        })?;
    Ok(created)
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("queue {url} has no ARN"))
}
