output "instance_identifier" {
  description = "Identifier of the DB instance."
  value       = aws_db_instance.this.identifier
}

output "instance_arn" {
  description = "ARN of the DB instance."
  value       = aws_db_instance.this.arn
}

output "resource_id" {
  description = "Resource ID of the DB instance (for rds-db:connect IAM policies)."
  value       = aws_db_instance.this.resource_id
}

output "address" {
  description = "DNS name of the instance (services connect here with sslmode=verify-full)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret (managed by RDS, named rds!db-<id>, tagged aws:rds:primaryDBInstanceArn = instance_arn) holding the master credentials."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key encrypting storage, Performance Insights and the master secret."
  value       = module.kms.key_arn
}
