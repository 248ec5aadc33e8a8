output "topic_arn" {
  description = "ARN of the retail-events topic (the bridge publishes here)."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the retail-events topic."
  value       = aws_sns_topic.this.name
}

output "kms_key_arn" {
  description = "KMS key of the topic and the queues (publishers need GenerateDataKey, consumers Decrypt)."
  value       = module.kms.key_arn
}

output "queue_arns" {
  description = "Main queue ARNs keyed by consumer name."
  value       = { for k, q in aws_sqs_queue.main : k => q.arn }
}

output "queue_urls" {
  description = "Main queue URLs keyed by consumer name."
  value       = { for k, q in aws_sqs_queue.main : k => q.id }
}

output "queue_names" {
  description = "Main queue names keyed by consumer name."
  value       = { for k, q in aws_sqs_queue.main : k => q.name }
}

output "dlq_arns" {
  description = "Dead-letter queue ARNs keyed by consumer name."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.arn }
}

output "dlq_names" {
  description = "Dead-letter queue names keyed by consumer name."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.name }
}
