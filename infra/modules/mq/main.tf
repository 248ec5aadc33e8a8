# Amazon MQ for RabbitMQ: the event backbone (topic exchange retail.events,
# one quorum queue per consumer). Private only; clients use AMQPS (5671).
# A single instance in dev, a three-node cluster across AZs in prod.
#
# Terraform creates one administrative user; its credentials live only in
# Secrets Manager. Per-service users with vhost permissions limited to their
# own queues are created with the RabbitMQ management API by the bootstrap
# runbook (infra/README.md) and stored in the services' own secrets.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

module "kms" {
  source = "../kms"

  name        = "${var.name}-mq"
  description = "Credentials secret of Amazon MQ ${var.name}"
  tags        = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-mq"
  description = "Amazon MQ ${var.name}: AMQPS and management API from the application security groups only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-mq" })
}

resource "aws_security_group_rule" "amqps" {
  # count, not for_each: the IDs are usually unknown until the cluster exists.
  count = length(var.allowed_security_group_ids)

  type                     = "ingress"
  description              = "AMQPS from ${var.allowed_security_group_ids[count.index]}"
  security_group_id        = aws_security_group.this.id
  source_security_group_id = var.allowed_security_group_ids[count.index]
  protocol                 = "tcp"
  from_port                = 5671
  to_port                  = 5671
}

resource "aws_security_group_rule" "management" {
  # count, not for_each: the IDs are usually unknown until the cluster exists.
  count = length(var.allowed_security_group_ids)

  type                     = "ingress"
  description              = "RabbitMQ management API (HTTPS) from ${var.allowed_security_group_ids[count.index]}"
  security_group_id        = aws_security_group.this.id
  source_security_group_id = var.allowed_security_group_ids[count.index]
  protocol                 = "tcp"
  from_port                = 443
  to_port                  = 443
}

# RabbitMQ rejects commas, colons and equal signs; alphanumeric keeps the
# password safe inside amqps:// URLs too.
resource "random_password" "admin" {
  length  = 40
  special = false
}

# Amazon MQ publishes the broker's general log to /aws/amazonmq/broker/<id>/general.
data "aws_iam_policy_document" "logs" {
  statement {
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:/aws/amazonmq/*",
    ]

    principals {
      type        = "Service"
      identifiers = ["mq.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "this" {
  policy_name     = "${var.name}-amazonmq-logs"
  policy_document = data.aws_iam_policy_document.logs.json
}

resource "aws_mq_broker" "this" {
  #checkov:skip=CKV_AWS_209:Amazon MQ for RabbitMQ does not support customer managed keys; data at rest is encrypted with an AWS owned KMS key
  #checkov:skip=CKV_AWS_197:Audit logs exist only for ActiveMQ brokers; RabbitMQ publishes the general log, which is enabled
  broker_name        = var.name
  engine_type        = "RabbitMQ"
  engine_version     = var.engine_version
  host_instance_type = var.host_instance_type
  deployment_mode    = var.deployment_mode

  publicly_accessible = false
  subnet_ids          = var.deployment_mode == "SINGLE_INSTANCE" ? [var.subnet_ids[0]] : var.subnet_ids
  security_groups     = [aws_security_group.this.id]

  auto_minor_version_upgrade = true
  apply_immediately          = false

  encryption_options {
    use_aws_owned_key = true
  }

  logs {
    general = true
  }

  maintenance_window_start_time {
    day_of_week = var.maintenance_day_of_week
    time_of_day = var.maintenance_time_of_day
    time_zone   = "UTC"
  }

  user {
    username = var.admin_username
    password = random_password.admin.result
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_resource_policy.this]
}

resource "aws_secretsmanager_secret" "admin" {
  #checkov:skip=CKV2_AWS_57:Amazon MQ has no managed rotation for RabbitMQ users; the admin password is rotated by re-running Terraform with a new random_password (taint), per the runbook
  name                    = "${var.name}/mq/admin"
  description             = "Administrative credentials and endpoints of Amazon MQ ${var.name}"
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "admin" {
  secret_id = aws_secretsmanager_secret.admin.id
  secret_string = jsonencode({
    username       = var.admin_username
    password       = random_password.admin.result
    amqps_endpoint = aws_mq_broker.this.instances[0].endpoints[0]
    console_url    = aws_mq_broker.this.instances[0].console_url
  })
}
