# The retail platform: everything the three environments share. Each
# environments/<env> root calls this module once with its terraform.tfvars
# values; the provider (region, allowed account) and the state backend stay in
# the root. The module calls below were in environments/<env>/main.tf until the
# roots were folded into this module: environments/<env>/moved.tf maps their
# old state addresses here.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name = "${var.project}-${var.environment}"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
    Repository  = "${var.github_owner}/${var.github_repository}"
  })

  # The service images .github/workflows/main.yml builds (the root Dockerfile, SERVICE=<service>),
  # one ECR repository each (module.ci).
  service_images = ["gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"]

  ses_identity_arns = var.ses_sender_domain == "" ? [] : [
    "arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/${var.ses_sender_domain}",
  ]

  # One entry per cargo-lambda binary (functions/<name>). SQS consumers are
  # fed by their own queue; psp-webhook is called by Stripe's webhooks (in dev
  # by the payment simulator's);
  # webhook-admin is invoked by the gateway only (its IRSA role may invoke the
  # live alias, module.iam gateway_function_arns).
  lambda_functions = {
    notifier = {
      description          = "retail-events -> customer email (SES) and SMS (SNS)"
      memory_size          = var.lambda_memory_size
      timeout              = 30
      reserved_concurrency = var.lambda_reserved_concurrency["notifier"]
      environment = {
        IDEMPOTENCY_TABLE = module.dynamodb.notifier_idempotency_table_name
        EMAIL_FROM        = "no-reply@${var.ses_sender_domain}"
        # Account emails: the key users seals their tokens with, and the shop's account pages.
        ACCOUNT_TOKEN_KEY_SECRET_ARN = module.secrets.account_token_key_secret_arn
        ACCOUNT_LINK_BASE_URL        = var.account_link_base_url
      }
      event_source                    = "sqs"
      source_queue_arn                = module.messaging.queue_arns["notifier"]
      batch_size                      = 10
      maximum_batching_window_seconds = 1
      maximum_concurrency             = var.lambda_reserved_concurrency["notifier"]
      policy_arns                     = module.iam.function_policy_arns["notifier"]
    }
    webhook-dispatcher = {
      description          = "retail-events -> signed POSTs to subscribed partner endpoints"
      memory_size          = var.lambda_memory_size
      timeout              = 30
      reserved_concurrency = var.lambda_reserved_concurrency["webhook-dispatcher"]
      environment = {
        SUBSCRIPTIONS_TABLE   = module.dynamodb.webhook_subscriptions_table_name
        DELIVERIES_TABLE      = module.dynamodb.webhook_deliveries_table_name
        WEBHOOK_SECRET_PREFIX = module.secrets.webhook_endpoint_secret_prefix
      }
      event_source                    = "sqs"
      source_queue_arn                = module.messaging.queue_arns["webhook-dispatcher"]
      batch_size                      = 10
      maximum_batching_window_seconds = 1
      maximum_concurrency             = var.lambda_reserved_concurrency["webhook-dispatcher"]
      policy_arns                     = module.iam.function_policy_arns["webhook-dispatcher"]
    }
    webhook-admin = {
      description          = "Partner webhook admin API (subscriptions, endpoint secrets, delivery log) behind the gateway"
      memory_size          = var.lambda_memory_size
      timeout              = 10
      reserved_concurrency = var.lambda_reserved_concurrency["webhook-admin"]
      environment = {
        SUBSCRIPTIONS_TABLE    = module.dynamodb.webhook_subscriptions_table_name
        DELIVERIES_TABLE       = module.dynamodb.webhook_deliveries_table_name
        WEBHOOK_SECRET_PREFIX  = module.secrets.webhook_endpoint_secret_prefix
        WEBHOOK_SECRET_KMS_KEY = module.secrets.kms_key_arn
      }
      event_source                    = "invoke"
      source_queue_arn                = ""
      batch_size                      = 0
      maximum_batching_window_seconds = 0
      maximum_concurrency             = 0
      policy_arns                     = module.iam.function_policy_arns["webhook-admin"]
    }
    analytics = {
      description          = "retail-events -> business metrics as CloudWatch EMF"
      memory_size          = var.lambda_memory_size
      timeout              = 30
      reserved_concurrency = var.lambda_reserved_concurrency["analytics"]
      environment = {
        METRICS_NAMESPACE = "Retail/Business"
      }
      event_source                    = "sqs"
      source_queue_arn                = module.messaging.queue_arns["analytics"]
      batch_size                      = 100
      maximum_batching_window_seconds = 10
      maximum_concurrency             = var.lambda_reserved_concurrency["analytics"]
      policy_arns                     = module.iam.function_policy_arns["analytics"]
    }
    psp-webhook = {
      description          = "Stripe webhook events (the payment simulator's in dev): verify Stripe-Signature, enqueue for payments"
      memory_size          = var.lambda_memory_size
      timeout              = 10
      reserved_concurrency = var.lambda_reserved_concurrency["psp-webhook"]
      environment = {
        PSP_WEBHOOK_SECRET_ARN  = module.secrets.psp_webhook_secret_arn
        PSP_CALLBACKS_QUEUE_URL = module.messaging.queue_urls["payments-psp-callbacks"]
        REPLAY_TABLE            = module.dynamodb.psp_callbacks_seen_table_name
      }
      event_source                    = "url"
      source_queue_arn                = ""
      batch_size                      = 0
      maximum_batching_window_seconds = 0
      maximum_concurrency             = 0
      policy_arns                     = module.iam.function_policy_arns["psp-webhook"]
    }
  }
}

module "network" {
  source = "../network"

  name                       = local.name
  cidr_block                 = var.vpc_cidr
  availability_zones         = var.availability_zones
  one_nat_gateway_per_az     = var.one_nat_gateway_per_az
  cluster_name               = local.name
  flow_log_retention_in_days = var.log_retention_in_days
  tags                       = local.tags
}

module "eks" {
  source = "../eks"

  name                          = local.name
  kubernetes_version            = var.kubernetes_version
  subnet_ids                    = module.network.private_subnet_ids
  endpoint_public_access        = var.eks_endpoint_public_access
  public_access_cidrs           = var.eks_public_access_cidrs
  cluster_log_retention_in_days = var.log_retention_in_days
  node_groups                   = var.eks_node_groups
  cluster_admin_principal_arns  = var.cluster_admin_principal_arns
  external_secrets_secret_arns  = [module.secrets.platform_secret_arn_pattern]
  external_secrets_kms_key_arns = [module.secrets.kms_key_arn]
  tags                          = local.tags
}

module "rds" {
  source = "../rds"

  name                                  = local.name
  vpc_id                                = module.network.vpc_id
  subnet_ids                            = module.network.database_subnet_ids
  allowed_security_group_ids            = [module.eks.cluster_security_group_id]
  instance_class                        = var.rds_instance_class
  allocated_storage                     = var.rds_allocated_storage
  max_allocated_storage                 = var.rds_max_allocated_storage
  multi_az                              = var.rds_multi_az
  deletion_protection                   = var.deletion_protection
  skip_final_snapshot                   = var.rds_skip_final_snapshot
  backup_retention_period               = var.rds_backup_retention_period
  performance_insights_retention_period = var.rds_performance_insights_retention_period
  log_retention_in_days                 = var.log_retention_in_days
  tags                                  = local.tags
}

module "elasticache" {
  source = "../elasticache"

  name                           = local.name
  vpc_id                         = module.network.vpc_id
  subnet_ids                     = module.network.database_subnet_ids
  allowed_security_group_ids     = [module.eks.cluster_security_group_id]
  node_type                      = var.redis_node_type
  num_cache_clusters             = var.redis_num_cache_clusters
  multi_az                       = var.redis_multi_az
  snapshot_retention_limit       = var.redis_snapshot_retention_limit
  log_retention_in_days          = var.log_retention_in_days
  secret_recovery_window_in_days = var.secret_recovery_window_in_days
  tags                           = local.tags
}

module "mq" {
  source = "../mq"

  name                           = local.name
  vpc_id                         = module.network.vpc_id
  subnet_ids                     = module.network.private_subnet_ids
  allowed_security_group_ids     = [module.eks.cluster_security_group_id]
  host_instance_type             = var.mq_host_instance_type
  deployment_mode                = var.mq_deployment_mode
  secret_recovery_window_in_days = var.secret_recovery_window_in_days
  tags                           = local.tags
}

module "messaging" {
  source = "../messaging"

  name                       = local.name
  topic_name                 = "retail-events"
  max_receive_count          = 5
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  tags                       = local.tags
}

module "dynamodb" {
  source = "../dynamodb"

  name                = local.name
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

module "secrets" {
  source = "../secrets"

  name                    = local.name
  recovery_window_in_days = var.secret_recovery_window_in_days
  # Where the generated database and broker credentials point (see the module).
  database_host = module.rds.address
  database_port = module.rds.port
  amqp_host     = module.mq.amqps_host
  # dev: the payment simulator's API key and webhook signing secret are generated.
  payment_simulator = var.payment_simulator
  tags              = local.tags
}

module "s3" {
  source = "../s3"

  name                    = local.name
  assets_bucket_name      = var.assets_bucket_name
  state_bucket_name       = var.state_bucket_name
  state_lock_table_name   = var.state_lock_table_name
  access_logs_bucket_name = var.access_logs_bucket_name
  artifacts_bucket_name   = var.lambda_artifacts_bucket_name
  tags                    = local.tags
}

module "iam" {
  source = "../iam"

  name                                = local.name
  oidc_provider_arn                   = module.eks.oidc_provider_arn
  oidc_issuer                         = module.eks.oidc_issuer
  kubernetes_namespace                = var.kubernetes_namespace
  secret_arns_by_owner                = module.secrets.secret_arns_by_owner
  secrets_kms_key_arn                 = module.secrets.kms_key_arn
  redis_auth_secret_arn               = module.elasticache.auth_secret_arn
  redis_kms_key_arn                   = module.elasticache.kms_key_arn
  events_topic_arn                    = module.messaging.topic_arn
  messaging_kms_key_arn               = module.messaging.kms_key_arn
  psp_callbacks_queue_arn             = module.messaging.queue_arns["payments-psp-callbacks"]
  webhook_dispatcher_queue_arn        = module.messaging.queue_arns["webhook-dispatcher"]
  notifier_idempotency_table_arn      = module.dynamodb.notifier_idempotency_table_arn
  webhook_subscriptions_table_arn     = module.dynamodb.webhook_subscriptions_table_arn
  webhook_deliveries_table_arn        = module.dynamodb.webhook_deliveries_table_arn
  psp_callbacks_seen_table_arn        = module.dynamodb.psp_callbacks_seen_table_arn
  dynamodb_kms_key_arn                = module.dynamodb.kms_key_arn
  webhook_endpoint_secret_arn_pattern = module.secrets.webhook_endpoint_secret_arn_pattern
  psp_webhook_secret_arn              = module.secrets.psp_webhook_secret_arn
  account_token_key_secret_arn        = module.secrets.account_token_key_secret_arn
  ses_identity_arns                   = local.ses_identity_arns
  gateway_function_arns               = [module.lambda.live_alias_arns["webhook-admin"]]
  bootstrap_secret_arns               = concat([module.mq.admin_secret_arn], module.secrets.bootstrap_secret_arns)
  bootstrap_rds_instance_arn          = module.rds.instance_arn
  bootstrap_kms_key_arns              = distinct([module.rds.kms_key_arn, module.mq.kms_key_arn, module.secrets.kms_key_arn])
  tags                                = local.tags
}

module "lambda" {
  source = "../lambda"

  name                  = local.name
  environment           = var.environment
  artifacts_s3_bucket   = module.s3.artifacts_bucket_name
  functions             = local.lambda_functions
  live_versions         = var.lambda_live_versions
  queue_kms_key_arn     = module.messaging.kms_key_arn
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  log_retention_in_days = var.log_retention_in_days
  alarm_topic_arns      = [module.observability.alarm_topic_arn]
  tags                  = local.tags

  otel_collector_layer_arn = var.otel_collector_layer_arn
}

module "observability" {
  source = "../observability"

  name                              = local.name
  function_names                    = module.lambda.function_names
  queue_names                       = module.messaging.queue_names
  dlq_names                         = module.messaging.dlq_names
  queue_age_alarm_threshold_seconds = var.queue_age_alarm_threshold_seconds
  alarm_email_addresses             = var.alarm_email_addresses
  tags                              = local.tags
}

# The delivery pipeline (.github/workflows): image repositories, the GitHub
# OIDC provider and the roles the workflows assume (modules/ci/main.tf).
module "ci" {
  source = "../ci"

  name = local.name
  # One repository per service image (the root Dockerfile with SERVICE=<service>) and, where the
  # payment simulator runs, psp-simulator (SERVICE=payments, BIN=psp-simulator).
  repositories                          = concat(local.service_images, var.payment_simulator ? ["psp-simulator"] : [])
  github_repository                     = "${var.github_owner}/${var.github_repository}"
  github_environment                    = var.environment
  create_oidc_provider                  = var.create_github_oidc_provider
  existing_oidc_provider_arn            = var.existing_github_oidc_provider_arn
  lambda_function_names                 = [for f in keys(local.lambda_functions) : "${local.name}-${f}"]
  artifacts_bucket_arn                  = module.s3.artifacts_bucket_arn
  artifacts_kms_key_arn                 = module.s3.artifacts_kms_key_arn
  state_bucket_arn                      = module.s3.state_bucket_arn
  state_key                             = "environments/${var.environment}/terraform.tfstate"
  state_lock_table_arn                  = module.s3.state_lock_table_arn
  state_kms_key_arn                     = module.s3.state_kms_key_arn
  terraform_managed_secret_arns         = [module.elasticache.auth_secret_arn, module.mq.admin_secret_arn, module.secrets.account_token_key_secret_arn]
  terraform_managed_secret_kms_key_arns = [module.elasticache.kms_key_arn, module.mq.kms_key_arn, module.secrets.kms_key_arn]
  tags                                  = local.tags
}
