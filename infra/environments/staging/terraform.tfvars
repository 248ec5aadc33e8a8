# staging: production topology (Multi-AZ everything, clustered broker,
# deletion protection) on smaller instances.

aws_region     = "eu-west-1"
aws_account_id = "222222222222" # replace with the staging account ID
environment    = "staging"
project        = "retail"

tags = {
  CostCenter = "retail-platform"
  Owner      = "platform-team"
}

vpc_cidr               = "10.20.0.0/16"
availability_zones     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
one_nat_gateway_per_az = true

kubernetes_version         = "1.31"
eks_endpoint_public_access = false
eks_public_access_cidrs    = []
eks_node_groups = {
  general = {
    instance_types = ["m6i.large", "m6a.large"]
    capacity_type  = "ON_DEMAND"
    ami_type       = "AL2023_x86_64_STANDARD"
    min_size       = 3
    max_size       = 6
    desired_size   = 3
    disk_size_gib  = 50
    labels         = { workload = "general" }
  }
}
cluster_admin_principal_arns = []

deletion_protection                       = true
rds_instance_class                        = "db.r6g.large"
rds_allocated_storage                     = 50
rds_max_allocated_storage                 = 200
rds_multi_az                              = true
rds_skip_final_snapshot                   = false
rds_backup_retention_period               = 7
rds_performance_insights_retention_period = 7

redis_node_type                = "cache.t4g.medium"
redis_num_cache_clusters       = 2
redis_multi_az                 = true
redis_snapshot_retention_limit = 3

mq_host_instance_type = "mq.m5.large"
mq_deployment_mode    = "CLUSTER_MULTI_AZ"

secret_recovery_window_in_days = 30

assets_bucket_name      = "retail-platform-staging-assets"
state_bucket_name       = "retail-platform-staging-terraform-state"
state_lock_table_name   = "retail-platform-staging-terraform-lock"
access_logs_bucket_name = "retail-platform-staging-s3-access-logs"

# Lambda artifacts uploaded by .github/workflows/functions.yml.
lambda_artifacts_bucket_name = "retail-platform-staging-lambda-artifacts"

lambda_memory_size = 256
# 40 reserved in total: the account's Lambda concurrency quota must be at least
# 140 (AWS keeps 100 unreserved); see lambda_account_concurrency_quota.
lambda_reserved_concurrency = {
  notifier           = 10
  webhook-dispatcher = 10
  analytics          = 5
  psp-webhook        = 10
  webhook-admin      = 5
}
ses_sender_domain = "mail.staging.retail.example.com"
# The shop's account pages (same host as the storefront, APP__CORS__ALLOWED_ORIGINS in
# k8s/overlays/staging/settings.yaml): account emails link to <base>/verify-email, ...
account_link_base_url = "https://staging.retail.example.com/account"

log_retention_in_days             = 30
queue_age_alarm_threshold_seconds = 900
alarm_email_addresses             = ["platform-staging-alerts@retail.example.com"]

github_owner      = "retail-platform"
github_repository = "retail-platform"

# Stripe in test mode (sk_test_), no simulator: put the Stripe secret key into
# retail-staging/payments/psp-api-key and the webhook endpoint's signing secret (whsec_) into
# retail-staging/psp-webhook/signing-secret by hand (README, "Deploying to AWS").
payment_simulator = false
