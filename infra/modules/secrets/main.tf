# Application secrets in Secrets Manager, named <name>/<owner>/<kind>, where
# the owner is the service or function allowed to read it:
#
#   retail-prod/users/jwt-signing-keys        users (JWT signing keys, JWKS)
#   retail-prod/payments/psp-api-key          payments (provider API key)
#   retail-prod/psp-webhook/signing-secret    psp-webhook (provider callback HMAC secret)
#   retail-prod/<service>/database            per-service PostgreSQL role
#   retail-prod/<service>/rabbitmq            per-service RabbitMQ user
#   retail-prod/webhooks/<subscription_id>    partner endpoint signing secrets,
#                                             created at runtime by the webhook admin API
#
# Terraform creates the containers and their encryption, never the values:
# values are written by the bootstrap runbook or by a rotation function, so
# no secret material lands in Terraform state.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  secret_keys = toset(flatten([
    for owner, kinds in var.secrets : [for kind in kinds : "${owner}/${kind}"]
  ]))

  arn_prefix = "arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${var.name}"
}

module "kms" {
  source = "../kms"

  name        = "${var.name}-secrets"
  description = "Application secrets of ${var.name}"
  tags        = var.tags
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:Rotation is attached per secret through rotation_lambda_arns (aws_secretsmanager_secret_rotation below); JWT keys and PSP secrets need provider/JWKS coordination described in infra/README.md
  for_each = local.secret_keys

  name                    = "${var.name}/${each.key}"
  description             = "${each.key} of ${var.name}"
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.recovery_window_in_days

  tags = merge(var.tags, {
    Owner = split("/", each.key)[0]
  })
}

# Rotation hooks: give a rotation Lambda (e.g. the AWS
# SecretsManagerRDSPostgreSQLRotationMultiUser application for the database
# secrets, or our own for JWT keys) per secret key.
resource "aws_secretsmanager_secret_rotation" "this" {
  for_each = var.rotation_lambda_arns

  secret_id           = aws_secretsmanager_secret.this[each.key].id
  rotation_lambda_arn = each.value

  rotation_rules {
    automatically_after_days = var.rotation_days
  }
}
