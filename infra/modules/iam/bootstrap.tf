# IRSA role of the bootstrap Job (k8s/components/bootstrap, an ArgoCD PreSync
# hook): it creates each service's PostgreSQL role and database and its
# RabbitMQ user, so it reads the RDS master secret, the per-service database
# and rabbitmq secrets and the Amazon MQ admin secret (through the
# SecretStores of that component), and nothing else.
#
# The RDS master secret is named rds!db-<random id> by RDS, so the Job's
# ExternalSecret finds it by the tag RDS puts on it, aws:rds:primaryDBInstanceArn
# = the instance's ARN (External Secrets' dataFrom.find.tags: BatchGetSecretValue
# with tag filters, which also needs ListSecrets, and GetSecretValue on each
# secret it returns; no DescribeSecret). Only the secret carrying exactly this
# instance's ARN is readable: Secrets Manager's tag-value filter matches by
# prefix, and a secret of another instance it finds is refused per secret and
# left out of the result. The secret is encrypted with the rds module's key,
# one of bootstrap_kms_key_arns.

locals {
  # arn:<partition>:rds:<region>:<account>:db:<identifier> -> the account's and region's rds!db-* secrets
  rds_instance_arn_parts        = split(":", var.bootstrap_rds_instance_arn)
  rds_master_secret_arn_pattern = "arn:${local.rds_instance_arn_parts[1]}:secretsmanager:${local.rds_instance_arn_parts[3]}:${local.rds_instance_arn_parts[4]}:secret:rds!db-*"
}

# Trusted only by the bootstrap service account (service_assume in services.tf).
resource "aws_iam_role" "bootstrap" {
  name                 = "${var.name}-bootstrap"
  description          = "IRSA role of the bootstrap Job (service account bootstrap in ${var.kubernetes_namespace})"
  assume_role_policy   = data.aws_iam_policy_document.service_assume["bootstrap"].json
  max_session_duration = 3600

  tags = merge(var.tags, { Service = "bootstrap" })
}

data "aws_iam_policy_document" "bootstrap" {
  statement {
    sid       = "ReadBootstrapSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.bootstrap_secret_arns
  }

  # Neither action supports resource-level permissions; what they return is
  # limited by ReadRdsMasterSecret (BatchGetSecretValue authorizes every secret
  # as GetSecretValue).
  statement {
    sid       = "FindRdsMasterSecret"
    actions   = ["secretsmanager:BatchGetSecretValue", "secretsmanager:ListSecrets"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadRdsMasterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.rds_master_secret_arn_pattern]

    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [var.bootstrap_rds_instance_arn]
    }
  }

  statement {
    sid       = "DecryptBootstrapSecrets"
    actions   = ["kms:Decrypt"]
    resources = var.bootstrap_kms_key_arns

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "bootstrap" {
  name   = "read-bootstrap-secrets"
  role   = aws_iam_role.bootstrap.id
  policy = data.aws_iam_policy_document.bootstrap.json
}
