output "assets_bucket_name" {
  description = "Name of the assets bucket."
  value       = aws_s3_bucket.assets.id
}

output "assets_bucket_arn" {
  description = "ARN of the assets bucket."
  value       = aws_s3_bucket.assets.arn
}

output "assets_kms_key_arn" {
  description = "KMS key of the assets bucket."
  value       = module.assets_kms.key_arn
}

output "state_bucket_name" {
  description = "Name of the Terraform state bucket."
  value       = aws_s3_bucket.state.id
}

output "state_bucket_arn" {
  description = "ARN of the Terraform state bucket."
  value       = aws_s3_bucket.state.arn
}

output "state_kms_key_arn" {
  description = "KMS key of the state bucket and lock table (Terraform operators need Encrypt/Decrypt on it)."
  value       = module.state_kms.key_arn
}

output "state_lock_table_name" {
  description = "Name of the state lock table."
  value       = aws_dynamodb_table.state_lock.name
}

output "state_lock_table_arn" {
  description = "ARN of the state lock table."
  value       = aws_dynamodb_table.state_lock.arn
}

output "artifacts_bucket_name" {
  description = "Name of the Lambda artifacts bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "artifacts_bucket_arn" {
  description = "ARN of the Lambda artifacts bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "artifacts_kms_key_arn" {
  description = "KMS key of the Lambda artifacts bucket (uploaders and Lambda deployers need it through S3)."
  value       = module.artifacts_kms.key_arn
}

output "access_logs_bucket_name" {
  description = "Name of the S3 access log bucket."
  value       = aws_s3_bucket.access_logs.id
}
