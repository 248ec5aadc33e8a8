output "secret_arns" {
  description = "Secret ARNs keyed by <owner>/<kind> (the generated users/account-token-key included)."
  value = merge(
    { for k, s in aws_secretsmanager_secret.this : k => s.arn },
    { "users/account-token-key" = aws_secretsmanager_secret.account_token_key.arn },
  )
}

output "secret_arns_by_owner" {
  description = "Secret ARNs grouped by owner (service or function): what each role may read. users also owns the generated account token key."
  value = {
    for owner in distinct(concat(keys(var.secrets), ["users"])) : owner => concat(
      [for k, s in aws_secretsmanager_secret.this : s.arn if split("/", k)[0] == owner],
      owner == "users" ? [aws_secretsmanager_secret.account_token_key.arn] : [],
    )
  }
}

output "jwt_signing_keys_secret_arn" {
  description = "Secret with the users service's JWT signing keys (null if not declared)."
  value       = lookup({ for k, s in aws_secretsmanager_secret.this : k => s.arn }, "users/jwt-signing-keys", null)
}

output "account_token_key_secret_arn" {
  description = "Secret with the account token key (32 random bytes, standard base64) that users seals account email tokens with and the notifier opens them with."
  value       = aws_secretsmanager_secret.account_token_key.arn
}

output "psp_webhook_secret_arn" {
  description = "Secret with the Stripe webhook signing secret (whsec_; the simulator's in dev) psp-webhook and payments verify events with (null if not declared)."
  value       = lookup({ for k, s in aws_secretsmanager_secret.this : k => s.arn }, "psp-webhook/signing-secret", null)
}

output "webhook_endpoint_secret_prefix" {
  description = "Name prefix of the per-subscription partner endpoint secrets created at runtime."
  value       = "${var.name}/webhooks/"
}

output "webhook_endpoint_secret_arn_pattern" {
  description = "ARN pattern matching every partner endpoint secret (for IAM policies)."
  value       = "${local.arn_prefix}/webhooks/*"
}

output "platform_secret_arn_pattern" {
  description = "ARN pattern of platform secrets (<name>/platform/*) read by the External Secrets controller."
  value       = "${local.arn_prefix}/platform/*"
}

output "kms_key_arn" {
  description = "KMS key encrypting the application secrets (runtime-created webhook secrets must use it too)."
  value       = module.kms.key_arn
}

output "alertmanager_secret_arn" {
  description = "Secret with Alertmanager's receiver credentials (pagerduty_routing_key, slack_webhook_url), supplied by the operator."
  value       = aws_secretsmanager_secret.alertmanager.arn
}

output "bootstrap_secret_arns" {
  description = "The per-service database and rabbitmq secrets the bootstrap Job (k8s/components/bootstrap) reads to create roles, databases and broker users."
  value       = [for k, s in aws_secretsmanager_secret.this : s.arn if endswith(k, "/database") || endswith(k, "/rabbitmq")]
}
