# dev: smallest footprint that still exercises every component.
# Single NAT gateway, single-AZ database, one Redis node, single-instance
# broker, no deletion protection, short retention.

aws_region     = "eu-west-1"
aws_account_id = "111111111111" # replace with the dev account ID
environment    = "dev"
project        = "retail"

tags = {
  CostCenter = "retail-platform"
  Owner      = "platform-team"
}

vpc_cidr               = "10.10.0.0/16"
availability_zones     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
one_nat_gateway_per_az = false

kubernetes_version         = "1.31"
eks_endpoint_public_access = true
eks_public_access_cidrs    = ["203.0.113.0/24"] # replace with the office VPN / CI egress range
eks_node_groups = {
  general = {
    instance_types = ["t3a.large", "t3.large"]
    capacity_type  = "SPOT"
    ami_type       = "AL2023_x86_64_STANDARD"
    min_size       = 2
    max_size       = 4
    desired_size   = 2
    disk_size_gib  = 50
    labels         = { workload = "general" }
  }
}
cluster_admin_principal_arns = []

deletion_protection                       = false
rds_instance_class                        = "db.t4g.medium"
rds_allocated_storage                     = 20
rds_max_allocated_storage                 = 100
rds_multi_az                              = false
rds_skip_final_snapshot                   = true
rds_backup_retention_period               = 3
rds_performance_insights_retention_period = 7

redis_node_type                = "cache.t4g.small"
redis_num_cache_clusters       = 1
redis_multi_az                 = false
redis_snapshot_retention_limit = 1

mq_host_instance_type = "mq.t3.micro"
mq_deployment_mode    = "SINGLE_INSTANCE"

secret_recovery_window_in_days = 7

assets_bucket_name      = "retail-platform-dev-assets"
state_bucket_name       = "retail-platform-dev-terraform-state"
state_lock_table_name   = "retail-platform-dev-terraform-lock"
access_logs_bucket_name = "retail-platform-dev-s3-access-logs"

# Lambda artifacts uploaded by .github/workflows/functions.yml.
lambda_artifacts_bucket_name = "retail-platform-dev-lambda-artifacts"

lambda_memory_size = 256
# 22 reserved in total: the account's Lambda concurrency quota must be at least
# 122 (AWS keeps 100 unreserved); see lambda_account_concurrency_quota.
lambda_reserved_concurrency = {
  notifier           = 5
  webhook-dispatcher = 5
  analytics          = 2
  psp-webhook        = 5
  webhook-admin      = 5
}
ses_sender_domain = "mail.dev.retail.example.com"
# The shop's account pages (same host as the storefront, APP__CORS__ALLOWED_ORIGINS in
# k8s/overlays/dev/settings.yaml): account emails link to <base>/verify-email, ...
account_link_base_url = "https://dev.retail.example.com/account"

log_retention_in_days             = 14
queue_age_alarm_threshold_seconds = 1800
alarm_email_addresses             = ["platform-dev-alerts@retail.example.com"]

github_owner      = "retail-platform"
github_repository = "retail-platform"

# dev runs the payment simulator (k8s/overlays/dev/psp-simulator) instead of Stripe:
# Terraform generates its API key and webhook signing secret, and creates its image repository.
payment_simulator = true
