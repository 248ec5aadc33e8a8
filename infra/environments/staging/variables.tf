variable "aws_region" {
  type        = string
  description = "AWS region of the environment."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "Must be an AWS region such as eu-west-1."
  }
}

variable "aws_account_id" {
  type        = string
  description = "AWS account of the environment; the provider refuses to run against any other account."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "Must be a 12-digit AWS account ID."
  }
}

# Platform inputs, passed through unchanged to module.platform. Types and
# descriptions mirror modules/platform/variables.tf, which holds the
# validations and the defaults: an optional input defaults to null here, and
# the platform module replaces null with its own default.

variable "project" {
  type        = string
  description = "Project name, the first part of every resource name."
  default     = null
}

variable "environment" {
  type        = string
  description = "Environment name."
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (cost centre, owner)."
  default     = null
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC (/16 to /20)."
}

variable "availability_zones" {
  type        = list(string)
  description = "Three availability zones of the region."
}

variable "one_nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per AZ (true) or a single shared one (false, cheaper)."
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the cluster."
}

variable "eks_endpoint_public_access" {
  type        = bool
  description = "Expose the Kubernetes API publicly, restricted to eks_public_access_cidrs."
  default     = null
}

variable "eks_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public Kubernetes API endpoint."
  default     = null
}

variable "eks_node_groups" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    ami_type       = string
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = number
    labels         = map(string)
  }))
  description = "Managed node groups of the cluster."
}

variable "cluster_admin_principal_arns" {
  type        = list(string)
  description = "IAM roles (SSO admin, break-glass) granted cluster-admin through EKS access entries."
  default     = null
}

variable "kubernetes_namespace" {
  type        = string
  description = "Namespace of the platform services (their service accounts are named after the services)."
  default     = null
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection on the database and the DynamoDB tables."
}

variable "rds_instance_class" {
  type        = string
  description = "PostgreSQL instance class."
}

variable "rds_allocated_storage" {
  type        = number
  description = "Initial PostgreSQL storage (GiB)."
}

variable "rds_max_allocated_storage" {
  type        = number
  description = "PostgreSQL storage autoscaling ceiling (GiB)."
}

variable "rds_multi_az" {
  type        = bool
  description = "Multi-AZ standby for PostgreSQL."
}

variable "rds_skip_final_snapshot" {
  type        = bool
  description = "Skip the final snapshot on destroy (throwaway environments only)."
  default     = null
}

variable "rds_backup_retention_period" {
  type        = number
  description = "Days of PostgreSQL automated backups."
}

variable "rds_performance_insights_retention_period" {
  type        = number
  description = "Performance Insights retention (7, a multiple of 31, or 731 days)."
  default     = null
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type."
}

variable "redis_num_cache_clusters" {
  type        = number
  description = "Redis nodes (primary + replicas)."
}

variable "redis_multi_az" {
  type        = bool
  description = "Multi-AZ with automatic failover for Redis (needs at least 2 nodes)."
}

variable "redis_snapshot_retention_limit" {
  type        = number
  description = "Days of Redis snapshots (0 disables)."
  default     = null
}

variable "mq_host_instance_type" {
  type        = string
  description = "Amazon MQ broker instance type."
}

variable "mq_deployment_mode" {
  type        = string
  description = "SINGLE_INSTANCE or CLUSTER_MULTI_AZ."
}

variable "secret_recovery_window_in_days" {
  type        = number
  description = "Days a deleted secret stays recoverable."
  default     = null
}

variable "payment_simulator" {
  type        = bool
  description = "The environment runs the payment simulator (k8s/overlays/dev/psp-simulator) instead of Stripe: true in dev, where Terraform then generates its API key (payments/psp-api-key) and webhook signing secret (psp-webhook/signing-secret) and creates its image repository (psp-simulator). false with Stripe (staging: test mode, prod: live mode), whose secret key and webhook signing secret are put in by hand."
  default     = null
}

variable "assets_bucket_name" {
  type        = string
  description = "Name of the product assets bucket."
}

variable "state_bucket_name" {
  type        = string
  description = "Name of the Terraform state bucket; must equal bucket in backend.tf."
}

variable "state_lock_table_name" {
  type        = string
  description = "Name of the Terraform lock table; must equal dynamodb_table in backend.tf."
}

variable "access_logs_bucket_name" {
  type        = string
  description = "Name of the S3 server access log bucket."
}

variable "lambda_artifacts_bucket_name" {
  type        = string
  description = "Name of the Lambda artifacts bucket: the functions pipeline uploads every build there, and new functions are created from current/<function>/bootstrap.zip in it."
}

variable "lambda_memory_size" {
  type        = number
  description = "Memory (MB) of each function; CPU scales with it."
}

variable "lambda_reserved_concurrency" {
  type        = map(number)
  description = "Reserved concurrency per function (also the SQS poller's maximum concurrency)."
}

variable "lambda_account_concurrency_quota" {
  type        = number
  description = "The account's Lambda concurrent executions quota in this region (Service Quotas L-B99A9384, `aws lambda get-account-settings` AccountLimit.ConcurrentExecutions). AWS keeps 100 of it unreserved, so the reserved concurrency of all functions may total at most this minus 100."
  default     = null
}

variable "lambda_live_versions" {
  type        = map(string)
  description = "Roll back a function by pinning its live alias to a published version, e.g. { notifier = \"12\" }."
  default     = null
}

variable "queue_visibility_timeout_seconds" {
  type        = number
  description = "Visibility timeout of the function queues (at least 6x the longest function timeout)."
  default     = null
}

variable "ses_sender_domain" {
  type        = string
  description = "Domain verified in SES from which the notifier sends e-mail (no-reply@<domain>)."
}

variable "account_link_base_url" {
  type        = string
  description = "The shop's account pages; account emails link to <base>/verify-email, /reset-password, /forgot-password"
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the CloudWatch log groups (flow logs, EKS, RDS, Redis, functions)."
}

variable "queue_age_alarm_threshold_seconds" {
  type        = number
  description = "Alarm when a function queue's oldest message is older than this."
  default     = null
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm topic."
  default     = null
}

variable "github_owner" {
  type        = string
  description = "GitHub organisation or user owning the repository; only its workflow runs may assume the pipeline roles."
}

variable "github_repository" {
  type        = string
  description = "GitHub repository name without the owner."
}

variable "create_github_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (false if another stack in the account already did)."
  default     = null
}

variable "existing_github_oidc_provider_arn" {
  type        = string
  description = "ARN of the account's existing GitHub OIDC provider, when create_github_oidc_provider is false."
  default     = null
}

variable "otel_collector_layer_arn" {
  type        = string
  description = "ARN of the AWS Distro for OpenTelemetry collector layer (arm64, this region) the functions export their spans to; null exports none."
  default     = null
}
