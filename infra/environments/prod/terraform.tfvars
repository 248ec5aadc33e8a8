# prod: Multi-AZ everywhere (NAT per AZ, RDS standby, Redis replicas with
# failover, three-node broker), deletion protection, private Kubernetes API,
# long retention.

aws_region     = "eu-west-1"
aws_account_id = "333333333333" # replace with the prod account ID
environment    = "prod"
project        = "retail"

tags = {
  CostCenter = "retail-platform"
  Owner      = "platform-team"
}

vpc_cidr               = "10.30.0.0/16"
availability_zones     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
one_nat_gateway_per_az = true

kubernetes_version         = "1.31"
eks_endpoint_public_access = false
eks_public_access_cidrs    = []
eks_node_groups = {
  general = {
    instance_types = ["m6i.xlarge", "m6a.xlarge"]
    capacity_type  = "ON_DEMAND"
    ami_type       = "AL2023_x86_64_STANDARD"
    min_size       = 3
    max_size       = 12
    desired_size   = 6
    disk_size_gib  = 100
    labels         = { workload = "general" }
  }
}
cluster_admin_principal_arns = []

deletion_protection                       = true
rds_instance_class                        = "db.r6g.xlarge"
rds_allocated_storage                     = 200
rds_max_allocated_storage                 = 1000
rds_multi_az                              = true
rds_skip_final_snapshot                   = false
rds_backup_retention_period               = 30
rds_performance_insights_retention_period = 93

redis_node_type                = "cache.r7g.large"
redis_num_cache_clusters       = 3
redis_multi_az                 = true
redis_snapshot_retention_limit = 7

mq_host_instance_type = "mq.m5.large"
mq_deployment_mode    = "CLUSTER_MULTI_AZ"

secret_recovery_window_in_days = 30

assets_bucket_name      = "retail-platform-prod-assets"
state_bucket_name       = "retail-platform-prod-terraform-state"
state_lock_table_name   = "retail-platform-prod-terraform-lock"
access_logs_bucket_name = "retail-platform-prod-s3-access-logs"

# Lambda artifacts uploaded by .github/workflows/functions.yml.
lambda_artifacts_bucket_name = "retail-platform-prod-lambda-artifacts"

lambda_memory_size = 512
# 50 + 50 + 10 + 50 + 5 = 165 reserved: AWS keeps 100 concurrent executions
# unreserved, so the prod account needs a Lambda "Concurrent executions" quota
# (Service Quotas L-B99A9384) of at least 265. New accounts can start far below
# the default 1000: check `aws lambda get-account-settings` and, if the quota is
# not 1000, set lambda_account_concurrency_quota to it; the plan then fails
# (module.platform output lambda_reserved_concurrency_total) when it is too low.
lambda_reserved_concurrency = {
  notifier           = 50
  webhook-dispatcher = 50
  analytics          = 10
  psp-webhook        = 50
  webhook-admin      = 5
}
ses_sender_domain = "mail.retail.example.com"
# The shop's account pages (same host as the storefront, APP__CORS__ALLOWED_ORIGINS in
# k8s/overlays/prod/settings.yaml): account emails link to <base>/verify-email, ...
account_link_base_url = "https://www.retail.example.com/account"

log_retention_in_days             = 365
queue_age_alarm_threshold_seconds = 600
alarm_email_addresses             = ["platform-oncall@retail.example.com"]

github_owner      = "retail-platform"
github_repository = "retail-platform"

# Stripe in live mode (sk_live_), no simulator: put the Stripe secret key into
# retail-prod/payments/psp-api-key and the webhook endpoint's signing secret (whsec_) into
# retail-prod/psp-webhook/signing-secret by hand (README, "Deploying to AWS").
payment_simulator = false
