output "function_names" {
  description = "Function names keyed by function."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Unqualified function ARNs keyed by function (for deploy permissions)."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "live_alias_arns" {
  description = "ARNs of the live aliases keyed by function."
  value       = { for k, a in aws_lambda_alias.live : k => a.arn }
}

output "published_versions" {
  description = "Latest published version per function."
  value       = { for k, f in aws_lambda_function.this : k => f.version }
}

output "function_urls" {
  description = "Function URLs (psp-webhook) keyed by function: configure this in the payment provider's dashboard."
  value       = { for k, u in aws_lambda_function_url.this : k => u.function_url }
}

output "role_arns" {
  description = "Execution role ARNs keyed by function."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "log_group_names" {
  description = "Log group names keyed by function."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "security_group_id" {
  description = "Security group of the functions (null outside a VPC)."
  value       = local.in_vpc ? aws_security_group.this[0].id : null
}
