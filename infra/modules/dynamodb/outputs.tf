output "notifier_idempotency_table_name" {
  description = "Table recording the event ids the notifier has handled (TTL on expires_at)."
  value       = aws_dynamodb_table.notifier_idempotency.name
}

output "notifier_idempotency_table_arn" {
  description = "ARN of the notifier idempotency table."
  value       = aws_dynamodb_table.notifier_idempotency.arn
}

output "webhook_subscriptions_table_name" {
  description = "Table of partner webhook subscriptions."
  value       = aws_dynamodb_table.webhook_subscriptions.name
}

output "webhook_subscriptions_table_arn" {
  description = "ARN of the webhook subscriptions table."
  value       = aws_dynamodb_table.webhook_subscriptions.arn
}

output "webhook_deliveries_table_name" {
  description = "Table of webhook delivery attempts."
  value       = aws_dynamodb_table.webhook_deliveries.name
}

output "webhook_deliveries_table_arn" {
  description = "ARN of the webhook deliveries table."
  value       = aws_dynamodb_table.webhook_deliveries.arn
}

output "psp_callbacks_seen_table_name" {
  description = "Table of the payment provider callback ids psp-webhook accepted (replay rejection, TTL on expires_at)."
  value       = aws_dynamodb_table.psp_callbacks_seen.name
}

output "psp_callbacks_seen_table_arn" {
  description = "ARN of the psp callbacks seen table."
  value       = aws_dynamodb_table.psp_callbacks_seen.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the tables."
  value       = module.kms.key_arn
}
