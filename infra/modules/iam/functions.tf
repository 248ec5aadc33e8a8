# Business permissions of the Lambda functions. The runtime permissions
# (own log group, X-Ray, own source queue, VPC ENIs) are in the lambda module.

# The DynamoDB tables' key, through DynamoDB only: every function below reads
# and writes an encrypted table, and merges this statement in
# (source_policy_documents).
data "aws_iam_policy_document" "dynamodb_table_key" {
  statement {
    sid = "DynamoDbTableKey"
    actions = [
      "kms:Decrypt",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:DescribeKey",
    ]
    resources = [var.dynamodb_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.dynamodb]
    }
  }
}

# notifier: idempotency records, email through SES, SMS through SNS, and the
# account token key that opens the tokens of account emails (users owns it).
data "aws_iam_policy_document" "notifier" {
  #checkov:skip=CKV_AWS_111:sns:Publish to phone numbers (SMS) has no resource ARN, so "*" is the only expressible resource; publishing to topics and endpoints is denied in the same policy
  source_policy_documents = [data.aws_iam_policy_document.dynamodb_table_key.json]

  statement {
    # function_kit::idempotency::Claims: a conditional put claims a message,
    # an update marks it sent, a delete gives the claim back on failure.
    sid = "IdempotencyRecords"
    actions = [
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
    ]
    resources = [var.notifier_idempotency_table_arn]
  }

  statement {
    sid       = "ReadAccountTokenKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.account_token_key_secret_arn]
  }

  statement {
    sid       = "DecryptAccountTokenKey"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.secretsmanager]
    }
  }

  dynamic "statement" {
    for_each = length(var.ses_identity_arns) > 0 ? [var.ses_identity_arns] : []

    content {
      sid = "SendEmailFromVerifiedIdentities"
      # sesv2 SendEmail with simple content (notifier email()); raw MIME
      # messages are never sent, so ses:SendRawEmail is not granted.
      actions   = ["ses:SendEmail"]
      resources = statement.value
    }
  }

  # SMS: publishing to a phone number has no resource ARN, so IAM can only
  # express it with Resource "*". Publishing to topics and platform
  # endpoints (which do have ARNs) is denied below, leaving this grant usable
  # for direct SMS only.
  statement {
    sid       = "SendSms"
    actions   = ["sns:Publish"]
    resources = ["*"]
  }

  statement {
    sid       = "NoTopicPublishing"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = ["arn:*:sns:*:*:*"]
  }
}

# webhook-dispatcher: subscriptions (read, and disable on 410), deliveries
# (write), partner endpoint secrets under <name>/webhooks/, and the back-off
# on its own source queue. Each action traces to webhooks::store::Store or
# functions/webhook-dispatcher/src/lib.rs (infra/tests/check_iam.py checks it).
data "aws_iam_policy_document" "webhook_dispatcher" {
  source_policy_documents = [data.aws_iam_policy_document.dynamodb_table_key.json]

  # Store::endpoints_for (Query on the event-type index) and Store::get
  # (GetItem, after a status change).
  statement {
    sid     = "ReadSubscriptions"
    actions = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [
      var.webhook_subscriptions_table_arn,
      "${var.webhook_subscriptions_table_arn}/index/*",
    ]
  }

  # An endpoint answering 410 Gone is disabled: Store::set_status queries the
  # subscription's items and updates each one's status (UpdateItem with a
  # condition). Only this table: the dispatcher never changes a delivery.
  statement {
    sid       = "DisableGoneSubscriptions"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.webhook_subscriptions_table_arn]
  }

  # Store::delivered (Query: was this event already delivered to this
  # subscription?) and Store::log (PutItem of the delivery record).
  statement {
    sid     = "RecordDeliveries"
    actions = ["dynamodb:PutItem", "dynamodb:Query"]
    resources = [
      var.webhook_deliveries_table_arn,
      "${var.webhook_deliveries_table_arn}/index/*",
    ]
  }

  # Dispatcher::back_off: resolves its source queue's URL from the record's
  # eventSourceARN (GetQueueUrl) and extends the record's visibility
  # (ChangeMessageVisibility) for exponential back-off. Only its own queue.
  dynamic "statement" {
    for_each = var.webhook_dispatcher_queue_arn == null ? [] : [var.webhook_dispatcher_queue_arn]

    content {
      sid       = "BackOffOnOwnQueue"
      actions   = ["sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ReadEndpointSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.webhook_endpoint_secret_arn_pattern]
  }

  statement {
    sid       = "DecryptEndpointSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.secretsmanager]
    }
  }
}

# psp-webhook: the provider signing secret, the callback ids it has accepted
# (replay rejection) and the callbacks queue it feeds.
data "aws_iam_policy_document" "psp_webhook" {
  source_policy_documents = [data.aws_iam_policy_document.dynamodb_table_key.json]

  statement {
    sid       = "ReadSigningSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.psp_webhook_secret_arn]
  }

  statement {
    sid       = "DecryptSigningSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.secretsmanager]
    }
  }

  # function_kit::idempotency::Claims: a conditional put claims a callback
  # (when it fails the callback is a replay), an update marks it done once
  # enqueued (an in-progress claim can be taken over after its lease, a done
  # one cannot), a delete gives it back when it could not be enqueued.
  statement {
    sid       = "RecordSeenCallbacks"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [var.psp_callbacks_seen_table_arn]
  }

  statement {
    sid       = "EnqueueCallbacks"
    actions   = ["sqs:SendMessage"]
    resources = [var.psp_callbacks_queue_arn]
  }

  statement {
    sid       = "EncryptCallbacks"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.messaging_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.sqs]
    }
  }
}

# webhook-admin: the admin API behind the gateway. Manages subscriptions (an
# item per subscription plus one per event type, written in one transaction:
# TransactWriteItems is authorized as the PutItem/UpdateItem it contains),
# reads the delivery log, and creates, rotates and deletes the partner
# endpoint secrets under <name>/webhooks/, the prefix the dispatcher reads.
data "aws_iam_policy_document" "webhook_admin" {
  source_policy_documents = [data.aws_iam_policy_document.dynamodb_table_key.json]

  statement {
    sid = "ManageSubscriptions"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:Query",
    ]
    resources = [
      var.webhook_subscriptions_table_arn,
      "${var.webhook_subscriptions_table_arn}/index/*",
    ]
  }

  statement {
    sid       = "ReadDeliveries"
    actions   = ["dynamodb:Query"]
    resources = [var.webhook_deliveries_table_arn]
  }

  statement {
    sid = "ManageEndpointSecrets"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:PutSecretValue",
      "secretsmanager:GetSecretValue",
      "secretsmanager:DeleteSecret",
      "secretsmanager:TagResource",
    ]
    resources = [var.webhook_endpoint_secret_arn_pattern]
  }

  statement {
    sid       = "EncryptEndpointSecrets"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.secretsmanager]
    }
  }
}

locals {
  function_policies = {
    notifier           = data.aws_iam_policy_document.notifier.json
    webhook-dispatcher = data.aws_iam_policy_document.webhook_dispatcher.json
    webhook-admin      = data.aws_iam_policy_document.webhook_admin.json
    psp-webhook        = data.aws_iam_policy_document.psp_webhook.json
  }
}

resource "aws_iam_policy" "function" {
  for_each = local.function_policies

  name        = "${var.name}-${each.key}-lambda"
  description = "Business permissions of the ${each.key} Lambda function"
  policy      = each.value

  tags = merge(var.tags, { Function = each.key })
}
