# IRSA roles of the services running on EKS.

locals {
  services = ["gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"]

  # Secrets a service reads that another owner keeps: payments verifies the
  # provider's callback signatures (queued by psp-webhook, or posted to its
  # own endpoint) with the psp-webhook signing secret.
  shared_secret_arns = {
    payments = [var.psp_webhook_secret_arn]
  }

  # Own secrets (<name>/<service>/*), shared secrets, plus the Redis AUTH
  # secret for Redis clients.
  service_secret_arns = {
    for s in local.services : s => concat(
      lookup(var.secret_arns_by_owner, s, []),
      lookup(local.shared_secret_arns, s, []),
      contains(var.redis_clients, s) ? [var.redis_auth_secret_arn] : [],
    )
  }

  service_secret_kms_keys = {
    for s in local.services : s => distinct(concat(
      length(lookup(var.secret_arns_by_owner, s, [])) + length(lookup(local.shared_secret_arns, s, [])) > 0 ? [var.secrets_kms_key_arn] : [],
      contains(var.redis_clients, s) ? [var.redis_kms_key_arn] : [],
    ))
  }

  # Service accounts with an IRSA role, all in var.kubernetes_namespace: one
  # per service, plus the bootstrap Job's (bootstrap.tf).
  irsa_service_accounts = concat(local.services, ["bootstrap"])
}

# Trust policy of each IRSA role: only the service account of the same name in
# var.kubernetes_namespace, through the cluster's OIDC provider.
data "aws_iam_policy_document" "service_assume" {
  for_each = toset(local.irsa_service_accounts)

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.kubernetes_namespace}:${each.key}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "service" {
  for_each = toset(local.services)

  name                 = "${var.name}-${each.key}"
  description          = "IRSA role of the ${each.key} service account in ${var.kubernetes_namespace}"
  assume_role_policy   = data.aws_iam_policy_document.service_assume[each.key].json
  max_session_duration = 3600

  tags = merge(var.tags, { Service = each.key })
}

data "aws_iam_policy_document" "service" {
  for_each = toset(local.services)

  # Secrets: each service reads only its own secrets (External Secrets syncs
  # them with this role through a per-service SecretStore).
  dynamic "statement" {
    for_each = length(local.service_secret_arns[each.key]) > 0 ? [local.service_secret_arns[each.key]] : []

    content {
      sid       = "ReadOwnSecrets"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.service_secret_kms_keys[each.key]) > 0 ? [local.service_secret_kms_keys[each.key]] : []

    content {
      sid       = "DecryptOwnSecrets"
      actions   = ["kms:Decrypt"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via.secretsmanager]
      }
    }
  }

  # bridge: publish to retail-events, and read the topic's attributes (its
  # /readyz calls GetTopicAttributes), nothing else.
  dynamic "statement" {
    for_each = each.key == "bridge" ? [var.events_topic_arn] : []

    content {
      sid       = "PublishRetailEvents"
      actions   = ["sns:Publish", "sns:GetTopicAttributes"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = each.key == "bridge" ? [var.messaging_kms_key_arn] : []

    content {
      sid       = "EncryptRetailEvents"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via.sns]
      }
    }
  }

  # gateway: invoke its function upstreams (lambda:<name>:live), only through
  # the alias: the qualified ARN does not match the bare function or another
  # alias or version.
  dynamic "statement" {
    for_each = each.key == "gateway" && length(var.gateway_function_arns) > 0 ? [var.gateway_function_arns] : []

    content {
      sid       = "InvokeFunctionUpstreams"
      actions   = ["lambda:InvokeFunction"]
      resources = statement.value
    }
  }

  # payments: consume the verified provider callbacks queued by psp-webhook.
  dynamic "statement" {
    for_each = each.key == "payments" ? [var.psp_callbacks_queue_arn] : []

    content {
      # payments::callbacks: long-polls (ReceiveMessage) the queue URL it is
      # configured with and deletes what it handled (DeleteMessage).
      sid       = "ConsumePspCallbacks"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = each.key == "payments" ? [var.messaging_kms_key_arn] : []

    content {
      sid       = "DecryptPspCallbacks"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via.sqs]
      }
    }
  }
}

resource "aws_iam_role_policy" "service" {
  for_each = toset(local.services)

  name   = "${each.key}-least-privilege"
  role   = aws_iam_role.service[each.key].id
  policy = data.aws_iam_policy_document.service[each.key].json
}
