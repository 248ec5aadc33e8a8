# dev environment: one call of the shared platform module (../../modules/platform).
# The values are in terraform.tfvars, the state backend in backend.tf, the
# provider in providers.tf and the state address moves in moved.tf. Keep this
# file identical across environments apart from this header
# (infra/tests/check_structure.py compares them).

module "platform" {
  source = "../../modules/platform"

  project                                   = var.project
  environment                               = var.environment
  tags                                      = var.tags
  vpc_cidr                                  = var.vpc_cidr
  availability_zones                        = var.availability_zones
  one_nat_gateway_per_az                    = var.one_nat_gateway_per_az
  kubernetes_version                        = var.kubernetes_version
  eks_endpoint_public_access                = var.eks_endpoint_public_access
  eks_public_access_cidrs                   = var.eks_public_access_cidrs
  eks_node_groups                           = var.eks_node_groups
  cluster_admin_principal_arns              = var.cluster_admin_principal_arns
  kubernetes_namespace                      = var.kubernetes_namespace
  deletion_protection                       = var.deletion_protection
  rds_instance_class                        = var.rds_instance_class
  rds_allocated_storage                     = var.rds_allocated_storage
  rds_max_allocated_storage                 = var.rds_max_allocated_storage
  rds_multi_az                              = var.rds_multi_az
  rds_skip_final_snapshot                   = var.rds_skip_final_snapshot
  rds_backup_retention_period               = var.rds_backup_retention_period
  rds_performance_insights_retention_period = var.rds_performance_insights_retention_period
  redis_node_type                           = var.redis_node_type
  redis_num_cache_clusters                  = var.redis_num_cache_clusters
  redis_multi_az                            = var.redis_multi_az
  redis_snapshot_retention_limit            = var.redis_snapshot_retention_limit
  mq_host_instance_type                     = var.mq_host_instance_type
  mq_deployment_mode                        = var.mq_deployment_mode
  secret_recovery_window_in_days            = var.secret_recovery_window_in_days
  payment_simulator                         = var.payment_simulator
  assets_bucket_name                        = var.assets_bucket_name
  state_bucket_name                         = var.state_bucket_name
  state_lock_table_name                     = var.state_lock_table_name
  access_logs_bucket_name                   = var.access_logs_bucket_name
  lambda_artifacts_bucket_name              = var.lambda_artifacts_bucket_name
  lambda_memory_size                        = var.lambda_memory_size
  lambda_reserved_concurrency               = var.lambda_reserved_concurrency
  lambda_account_concurrency_quota          = var.lambda_account_concurrency_quota
  lambda_live_versions                      = var.lambda_live_versions
  queue_visibility_timeout_seconds          = var.queue_visibility_timeout_seconds
  ses_sender_domain                         = var.ses_sender_domain
  account_link_base_url                     = var.account_link_base_url
  log_retention_in_days                     = var.log_retention_in_days
  queue_age_alarm_threshold_seconds         = var.queue_age_alarm_threshold_seconds
  alarm_email_addresses                     = var.alarm_email_addresses
  github_owner                              = var.github_owner
  github_repository                         = var.github_repository
  create_github_oidc_provider               = var.create_github_oidc_provider
  existing_github_oidc_provider_arn         = var.existing_github_oidc_provider_arn
  otel_collector_layer_arn                  = var.otel_collector_layer_arn
}
