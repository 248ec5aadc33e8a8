# Inputs of the platform. The environment roots declare the same names and
# pass them straight through; optional ones default to null there, and
# `nullable = false` here turns a null into the default below, so every
# default and every validation lives only in this file.

variable "project" {
  type        = string
  description = "Project name, the first part of every resource name."
  default     = "retail"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "The project name must be 2-16 lowercase letters, digits or hyphens."
  }
}

variable "environment" {
  type        = string
  description = "Environment name."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be dev, staging or prod."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (cost centre, owner)."
  default     = {}
  nullable    = false
}

# Network

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC (/16 to /20)."

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "Must be a valid IPv4 CIDR."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Three availability zones of the region."

  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "Exactly three availability zones are required."
  }
}

variable "one_nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per AZ (true) or a single shared one (false, cheaper)."
}

# EKS

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the cluster."

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "Must look like 1.31."
  }
}

variable "eks_endpoint_public_access" {
  type        = bool
  description = "Expose the Kubernetes API publicly, restricted to eks_public_access_cidrs."
  default     = false
  nullable    = false
}

variable "eks_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public Kubernetes API endpoint."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.eks_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Must be valid IPv4 CIDRs other than 0.0.0.0/0."
  }
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
  default     = []
  nullable    = false
}

variable "kubernetes_namespace" {
  type        = string
  description = "Namespace of the platform services (their service accounts are named after the services)."
  default     = "retail"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.kubernetes_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

# Data stores

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

  validation {
    condition     = var.rds_allocated_storage >= 20 && var.rds_allocated_storage <= 65536
    error_message = "Must be between 20 and 65536 GiB."
  }
}

variable "rds_max_allocated_storage" {
  type        = number
  description = "PostgreSQL storage autoscaling ceiling (GiB)."

  validation {
    condition     = var.rds_max_allocated_storage >= 20 && var.rds_max_allocated_storage <= 65536
    error_message = "Must be between 20 and 65536 GiB."
  }
}

variable "rds_multi_az" {
  type        = bool
  description = "Multi-AZ standby for PostgreSQL."
}

variable "rds_skip_final_snapshot" {
  type        = bool
  description = "Skip the final snapshot on destroy (throwaway environments only)."
  default     = false
  nullable    = false
}

variable "rds_backup_retention_period" {
  type        = number
  description = "Days of PostgreSQL automated backups."

  validation {
    condition     = var.rds_backup_retention_period >= 1 && var.rds_backup_retention_period <= 35
    error_message = "Must be between 1 and 35 days."
  }
}

variable "rds_performance_insights_retention_period" {
  type        = number
  description = "Performance Insights retention (7, a multiple of 31, or 731 days)."
  default     = 7
  nullable    = false
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type."
}

variable "redis_num_cache_clusters" {
  type        = number
  description = "Redis nodes (primary + replicas)."

  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "Must be between 1 and 6."
  }
}

variable "redis_multi_az" {
  type        = bool
  description = "Multi-AZ with automatic failover for Redis (needs at least 2 nodes)."
}

variable "redis_snapshot_retention_limit" {
  type        = number
  description = "Days of Redis snapshots (0 disables)."
  default     = 1
  nullable    = false
}

variable "mq_host_instance_type" {
  type        = string
  description = "Amazon MQ broker instance type."
}

variable "mq_deployment_mode" {
  type        = string
  description = "SINGLE_INSTANCE or CLUSTER_MULTI_AZ."

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.mq_deployment_mode)
    error_message = "Must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ."
  }
}

variable "secret_recovery_window_in_days" {
  type        = number
  description = "Days a deleted secret stays recoverable."
  default     = 30
  nullable    = false
}

variable "payment_simulator" {
  type        = bool
  description = "The environment runs the payment simulator (k8s/overlays/dev/psp-simulator) instead of Stripe: true in dev, where Terraform then generates its API key (payments/psp-api-key) and webhook signing secret (psp-webhook/signing-secret) and creates its image repository (psp-simulator). false with Stripe (staging: test mode, prod: live mode), whose secret key and webhook signing secret are put in by hand."
  default     = false
  nullable    = false
}

# Buckets (names are global: make them unique to your organisation)

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

# Functions and messaging

variable "lambda_artifacts_bucket_name" {
  type        = string
  description = "Name of the Lambda artifacts bucket: the functions pipeline uploads every build there, and new functions are created from current/<function>/bootstrap.zip in it."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.lambda_artifacts_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits or hyphens."
  }
}

variable "lambda_memory_size" {
  type        = number
  description = "Memory (MB) of each function; CPU scales with it."

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240
    error_message = "Must be between 128 and 10240 MB."
  }
}

variable "lambda_reserved_concurrency" {
  type        = map(number)
  description = "Reserved concurrency per function (also the SQS poller's maximum concurrency)."

  validation {
    condition     = alltrue([for f in ["notifier", "webhook-dispatcher", "analytics", "psp-webhook", "webhook-admin"] : contains(keys(var.lambda_reserved_concurrency), f)])
    error_message = "Give a value for notifier, webhook-dispatcher, analytics, psp-webhook and webhook-admin."
  }

  validation {
    condition     = alltrue([for v in values(var.lambda_reserved_concurrency) : v >= 2 && v <= 1000])
    error_message = "Reserved concurrency must be between 2 and 1000."
  }
}

variable "lambda_account_concurrency_quota" {
  type        = number
  description = "The account's Lambda concurrent executions quota in this region (Service Quotas L-B99A9384, `aws lambda get-account-settings` AccountLimit.ConcurrentExecutions). AWS keeps 100 of it unreserved, so the reserved concurrency of all functions may total at most this minus 100."
  default     = 1000
  nullable    = false

  validation {
    condition     = var.lambda_account_concurrency_quota >= 10 && floor(var.lambda_account_concurrency_quota) == var.lambda_account_concurrency_quota
    error_message = "Must be a whole number of concurrent executions (new accounts may start as low as 10; the AWS default is 1000)."
  }
}

variable "lambda_live_versions" {
  type        = map(string)
  description = "Roll back a function by pinning its live alias to a published version, e.g. { notifier = \"12\" }."
  default     = {}
  nullable    = false
}

variable "queue_visibility_timeout_seconds" {
  type        = number
  description = "Visibility timeout of the function queues (at least 6x the longest function timeout)."
  default     = 180
  nullable    = false

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 180
    error_message = "The function timeouts are up to 30 s: keep the visibility timeout at 180 s or more."
  }
}

variable "ses_sender_domain" {
  type        = string
  description = "Domain verified in SES from which the notifier sends e-mail (no-reply@<domain>)."

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.ses_sender_domain))
    error_message = "Must be a domain name such as mail.example.com."
  }
}

variable "account_link_base_url" {
  type        = string
  description = "The shop's account pages; account emails link to <base>/verify-email, /reset-password, /forgot-password"

  validation {
    condition     = can(regex("^https://[^/?#]+", var.account_link_base_url))
    error_message = "Must be an https:// URL, e.g. https://www.retail.example.com/account."
  }
}

# Operations

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the CloudWatch log groups (flow logs, EKS, RDS, Redis, functions)."
}

variable "queue_age_alarm_threshold_seconds" {
  type        = number
  description = "Alarm when a function queue's oldest message is older than this."
  default     = 900
  nullable    = false
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm topic."
  default     = []
  nullable    = false
}

# CI

variable "github_owner" {
  type        = string
  description = "GitHub organisation or user owning the repository; only its workflow runs may assume the pipeline roles."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github_owner))
    error_message = "Must be a GitHub owner name."
  }
}

variable "github_repository" {
  type        = string
  description = "GitHub repository name without the owner."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "Must be a GitHub repository name without the owner."
  }
}

variable "create_github_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (false if another stack in the account already did)."
  default     = true
  nullable    = false
}

variable "existing_github_oidc_provider_arn" {
  type        = string
  description = "ARN of the account's existing GitHub OIDC provider, when create_github_oidc_provider is false."
  default     = ""
  nullable    = false

  validation {
    condition     = var.existing_github_oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.existing_github_oidc_provider_arn))
    error_message = "Must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "otel_collector_layer_arn" {
  type        = string
  description = "ARN of the AWS Distro for OpenTelemetry collector layer (arm64, this region) the functions export their spans to; null exports none."
  default     = null
}
