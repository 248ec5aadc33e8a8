output "broker_id" {
  description = "ID of the broker."
  value       = aws_mq_broker.this.id
}

output "broker_arn" {
  description = "ARN of the broker."
  value       = aws_mq_broker.this.arn
}

output "amqps_endpoint" {
  description = "AMQPS endpoint (amqps://<host>:5671)."
  value       = aws_mq_broker.this.instances[0].endpoints[0]
}

output "console_url" {
  description = "URL of the RabbitMQ management console and API (private)."
  value       = aws_mq_broker.this.instances[0].console_url
}

output "admin_secret_arn" {
  description = "Secrets Manager secret with the administrative credentials (bootstrap only; services get their own users)."
  value       = aws_secretsmanager_secret.admin.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the credentials secret."
  value       = module.kms.key_arn
}

output "security_group_id" {
  description = "Security group of the broker."
  value       = aws_security_group.this.id
}

output "amqps_host" {
  description = "Host name of the broker's AMQPS endpoint (without scheme and port), for the generated per-service rabbitmq secrets."
  value       = regex("^amqps://([^:/]+)", aws_mq_broker.this.instances[0].endpoints[0])[0]
}
