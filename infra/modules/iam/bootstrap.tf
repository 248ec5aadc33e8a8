# IRSA role of the bootstrap Job (k8s/components/bootstrap, an ArgoCD PreSync
# hook): it creates each service's PostgreSQL role and database and its
# RabbitMQ user, so it reads the RDS master secret, the per-service database
# and rabbitmq secrets and the Amazon MQ admin secret (through the
# SecretStores of that component), and nothing else.

data "aws_iam_policy_document" "bootstrap_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.kubernetes_namespace}:bootstrap"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "bootstrap" {
  name                 = "${var.name}-bootstrap"
  description          = "IRSA role of the bootstrap Job (service account bootstrap in ${var.kubernetes_namespace})"
  assume_role_policy   = data.aws_iam_policy_document.bootstrap_assume.json
  max_session_duration = 3600

  tags = merge(var.tags, { Service = "bootstrap" })
}

data "aws_iam_policy_document" "bootstrap" {
  statement {
    sid       = "ReadBootstrapSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.bootstrap_secret_arns
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
