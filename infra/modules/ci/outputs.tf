output "repository_urls" {
  description = "ECR repository URL per service image."
  value       = module.ecr.repository_urls
}

output "repository_arns" {
  description = "ECR repository ARN per service image."
  value       = module.ecr.repository_arns
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider."
  value       = local.oidc_provider_arn
}

output "ecr_push_role_arn" {
  description = "role-to-assume for image pushes from main (GitHub repository variable AWS_ECR_PUSH_ROLE_ARN_<ENV>)."
  value       = aws_iam_role.this["ecr_push"].arn
}

output "deploy_role_arn" {
  description = "role-to-assume for Lambda deploys in this GitHub environment (environment variable AWS_DEPLOY_ROLE_ARN)."
  value       = aws_iam_role.this["deploy"].arn
}

output "terraform_plan_role_arn" {
  description = "role-to-assume for terraform plan on pull requests (GitHub repository variable AWS_PLAN_ROLE_ARN_<ENV>)."
  value       = aws_iam_role.this["tf_plan"].arn
}

output "terraform_apply_role_arn" {
  description = "role-to-assume for terraform apply in this GitHub environment (environment variable AWS_APPLY_ROLE_ARN)."
  value       = aws_iam_role.this["tf_apply"].arn
}
