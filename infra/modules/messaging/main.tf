# SNS topic retail-events (fed by the RabbitMQ bridge) fanning out to one SQS
# queue per Lambda consumer, each filtered on the event_type message
# attribute, with raw delivery and a dead-letter queue. Standalone queues
# (payments-psp-callbacks: psp-webhook -> payments) get the same DLQ and
# encryption but no subscription.

locals {
  queue_names = toset(concat(keys(var.subscriptions), var.standalone_queues))

  # An empty event type list subscribes to every event type (the attribute
  # must still be present, so malformed messages are not delivered).
  filter_policies = {
    for consumer, types in var.subscriptions : consumer => (
      length(types) > 0 ? jsonencode({ event_type = types }) : jsonencode({ event_type = [{ exists = true }] })
    )
  }
}

module "kms" {
  source = "../kms"

  name        = "${var.name}-messaging"
  description = "SNS topic ${var.topic_name} and SQS queues of ${var.name}"
  # SNS encrypts messages it delivers into our encrypted queues.
  service_principals = ["sns.amazonaws.com"]
  tags               = var.tags
}

################################################################################
# Topic
################################################################################

resource "aws_sns_topic" "this" {
  name              = var.topic_name
  kms_master_key_id = module.kms.key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "AccountPrincipalsOnly"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes"]
    resources = [aws_sns_topic.this.arn]

    # IAM policies in this account decide who may publish (only the bridge).
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

################################################################################
# Queues
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = local.queue_names

  name                              = "${var.name}-${each.key}-dlq"
  message_retention_seconds         = var.dlq_message_retention_seconds
  kms_master_key_id                 = module.kms.key_arn
  kms_data_key_reuse_period_seconds = 300

  tags = merge(var.tags, { Queue = each.key, Role = "dead-letter" })
}

resource "aws_sqs_queue" "main" {
  for_each = local.queue_names

  name                              = "${var.name}-${each.key}"
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = module.kms.key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = merge(var.tags, { Queue = each.key, Role = "main" })
}

# Only its own queue may dead-letter into a DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queue_names

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main[each.key].arn]
  })
}

# Queue policies: the topic may send into subscribed queues (and their DLQs,
# for deliveries SNS itself cannot complete); every request must use TLS.
data "aws_iam_policy_document" "queue" {
  for_each = {
    for pair in flatten([
      for q in local.queue_names : [
        { key = "${q}/main", queue = q, arn = aws_sqs_queue.main[q].arn },
        { key = "${q}/dlq", queue = q, arn = aws_sqs_queue.dlq[q].arn },
      ]
    ]) : pair.key => pair
  }

  dynamic "statement" {
    for_each = contains(keys(var.subscriptions), each.value.queue) ? [each.value.arn] : []

    content {
      sid       = "AllowRetailEventsTopic"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]

      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [aws_sns_topic.this.arn]
      }
    }
  }

  # "sqs:*" in a Deny: refuse every action over plain HTTP, whoever asks.
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "main" {
  for_each = local.queue_names

  queue_url = aws_sqs_queue.main[each.key].id
  policy    = data.aws_iam_policy_document.queue["${each.key}/main"].json
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = local.queue_names

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = data.aws_iam_policy_document.queue["${each.key}/dlq"].json
}

################################################################################
# Subscriptions
################################################################################

resource "aws_sns_topic_subscription" "this" {
  for_each = var.subscriptions

  topic_arn            = aws_sns_topic.this.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.main[each.key].arn
  raw_message_delivery = true

  filter_policy_scope = "MessageAttributes"
  filter_policy       = local.filter_policies[each.key]

  # Messages SNS cannot deliver (e.g. queue policy or KMS errors) are kept.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
  })

  depends_on = [aws_sqs_queue_policy.main, aws_sqs_queue_policy.dlq]
}
