output "repository_urls" {
  description = "Repository URLs keyed by service."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs keyed by service."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "kms_key_arn" {
  description = "KMS key encrypting the images."
  value       = module.kms.key_arn
}
