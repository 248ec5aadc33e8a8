# DynamoDB tables of the Lambda functions. All on-demand, point-in-time
# recovery, SSE with the module's KMS key.
#
# Key design (the functions rely on it):
# - notifier idempotency: one item per handled event id; expires_at (epoch
#   seconds) lets DynamoDB TTL drop it after the redelivery window.
# - webhook subscriptions: one item per (event_type, subscription_id), so the
#   dispatcher finds the subscribers of an event with one Query; the
#   by_subscription_id index serves the admin API.
# - webhook deliveries: one item per attempt history of (subscription, event),
#   listed per subscription newest first (delivery_id is a UUIDv7); the
#   by_event_id index answers "where did this event go"; expires_at bounds
#   retention.
# - psp callbacks seen: one item per payment provider callback id psp-webhook
#   accepted (a conditional put that fails means a replay, which is
#   rejected); expires_at lets TTL drop it once the callback's timestamp is
#   outside the signature tolerance and a replay would be refused anyway.

module "kms" {
  source = "../kms"

  name        = "${var.name}-dynamodb"
  description = "DynamoDB tables of ${var.name}"
  tags        = var.tags
}

resource "aws_dynamodb_table" "notifier_idempotency" {
  name                        = "${var.name}-notifier-idempotency"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "event_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "event_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = merge(var.tags, { Name = "${var.name}-notifier-idempotency" })
}

resource "aws_dynamodb_table" "webhook_subscriptions" {
  name                        = "${var.name}-webhook-subscriptions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "event_type"
  range_key                   = "subscription_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "event_type"
    type = "S"
  }

  attribute {
    name = "subscription_id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_subscription_id"
    hash_key        = "subscription_id"
    range_key       = "event_type"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = merge(var.tags, { Name = "${var.name}-webhook-subscriptions" })
}

resource "aws_dynamodb_table" "webhook_deliveries" {
  name                        = "${var.name}-webhook-deliveries"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "subscription_id"
  range_key                   = "delivery_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "subscription_id"
    type = "S"
  }

  attribute {
    name = "delivery_id"
    type = "S"
  }

  attribute {
    name = "event_id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_event_id"
    hash_key        = "event_id"
    range_key       = "subscription_id"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = merge(var.tags, { Name = "${var.name}-webhook-deliveries" })
}

resource "aws_dynamodb_table" "psp_callbacks_seen" {
  name                        = "${var.name}-psp-callbacks-seen"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "callback_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "callback_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = merge(var.tags, { Name = "${var.name}-psp-callbacks-seen" })
}
