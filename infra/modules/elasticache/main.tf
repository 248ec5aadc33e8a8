# Redis 7 replication group: product cache, sessions, carts and rate limits.
# TLS in transit, KMS at rest, AUTH token generated here and published only
# through Secrets Manager, Multi-AZ with automatic failover when there is a
# replica, allkeys-lru eviction (Redis is an optimisation: on a miss or an
# outage the services read PostgreSQL).

locals {
  failover_enabled = var.multi_az && var.num_cache_clusters >= 2
  log_types        = ["slow-log", "engine-log"]
}

module "kms" {
  source = "../kms"

  name                               = "${var.name}-redis"
  description                        = "At-rest data, AUTH secret and logs of Redis ${var.name}"
  cloudwatch_log_group_name_patterns = ["/aws/elasticache/${var.name}/*"]
  tags                               = var.tags
}

resource "aws_elasticache_subnet_group" "this" {
  name        = var.name
  description = "Subnets of Redis ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-redis"
  description = "Redis ${var.name}: TLS ingress from the application security groups only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-redis" })
}

resource "aws_security_group_rule" "ingress" {
  # count, not for_each: the IDs are usually unknown until the cluster exists.
  count = length(var.allowed_security_group_ids)

  type                     = "ingress"
  description              = "Redis TLS from ${var.allowed_security_group_ids[count.index]}"
  security_group_id        = aws_security_group.this.id
  source_security_group_id = var.allowed_security_group_ids[count.index]
  protocol                 = "tcp"
  from_port                = 6379
  to_port                  = 6379
}

resource "aws_elasticache_parameter_group" "this" {
  name        = "${var.name}-redis7"
  family      = "redis7"
  description = "Redis 7 settings of ${var.name}"

  # Every key is cache-like (TTL'd cache entries, sessions, carts backed by
  # PostgreSQL): evict the least recently used key rather than failing writes.
  parameter {
    name  = "maxmemory-policy"
    value = "allkeys-lru"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is the per-environment log_retention_in_days variable: prod keeps 365 days, dev and staging keep less to limit cost
  for_each = toset(local.log_types)

  name              = "/aws/elasticache/${var.name}/${each.value}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.kms.key_arn

  tags = var.tags
}

# AUTH token: alphanumeric (ElastiCache forbids some punctuation), 64 chars.
# It is in the (encrypted) Terraform state; clients read it from Secrets Manager.
resource "random_password" "auth" {
  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "Redis for ${var.name}: cache, sessions, carts, rate limits"

  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  num_cache_clusters   = var.num_cache_clusters
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.this.id]

  automatic_failover_enabled = local.failover_enabled
  multi_az_enabled           = local.failover_enabled

  at_rest_encryption_enabled = true
  kms_key_id                 = module.kms.key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth.result

  snapshot_retention_limit   = var.snapshot_retention_limit
  snapshot_window            = var.snapshot_window
  maintenance_window         = var.maintenance_window
  auto_minor_version_upgrade = true
  apply_immediately          = false

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.this

    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }

  tags = var.tags
}

resource "aws_secretsmanager_secret" "auth" {
  #checkov:skip=CKV2_AWS_57:The AUTH token is rotated with the documented two-step ElastiCache procedure (auth_token_update_strategy ROTATE then SET), not a rotation Lambda
  name                    = "${var.name}/elasticache/auth"
  description             = "AUTH token and TLS endpoints of Redis ${var.name}"
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "auth" {
  secret_id = aws_secretsmanager_secret.auth.id
  secret_string = jsonencode({
    auth_token       = random_password.auth.result
    primary_endpoint = aws_elasticache_replication_group.this.primary_endpoint_address
    reader_endpoint  = aws_elasticache_replication_group.this.reader_endpoint_address
    port             = 6379
    tls              = true
    url              = "rediss://:${random_password.auth.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379"
  })
}
