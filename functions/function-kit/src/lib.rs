//! # function-kit
//!
//! What the Lambda functions share:
//! - [`aws`]: AWS configuration from the environment (the standard chain, `AWS_ENDPOINT_URL`
//!   locally) or for an explicit endpoint (tests, xtask);
//! - [`topology`]: the SNS topic, SQS queues with DLQs and filter policies, DynamoDB tables and
//!   SES identity that Terraform creates in AWS, created the same way on moto;
//! - [`batch`]: an SQS batch handled message by message, reporting only the failures
//!   (`ReportBatchItemFailures`);
//! - [`idempotency`]: claims in DynamoDB so a redelivered event never acts twice;
//! - [`local`]: the event source mapping `cargo xtask up` runs between SQS and `cargo lambda watch`;
//! - [`trace`]: the trace context each record carries, so the work is logged in its trace;
//! - [`telemetry`]: JSON logs and OTLP span export, flushed at the end of each invocation.

pub mod aws;
pub mod batch;
pub mod idempotency;
pub mod local;
pub mod telemetry;
pub mod topology;
pub mod trace;
