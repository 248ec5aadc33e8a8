variable "name" {
  type        = string
  description = "Replication group ID and prefix of its resources (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name)) && !can(regex("--", var.name))
    error_message = "The name must be 2-40 lowercase letters, digits or single hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the replication group."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "Must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Database subnets across the AZs."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "At least two subnets are required."
  }
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups allowed to connect on 6379 (the EKS cluster security group)."

  validation {
    condition     = alltrue([for id in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "Entries must be security group IDs (sg-...)."
  }
}

variable "engine_version" {
  type        = string
  description = "Redis engine version (7.x)."
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "The platform runs Redis 7: use 7.<minor>."
  }
}

variable "node_type" {
  type        = string
  description = "Cache node type (e.g. cache.t4g.small, cache.r7g.large)."

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.node_type))
    error_message = "Must be an ElastiCache node type such as cache.r7g.large."
  }
}

variable "num_cache_clusters" {
  type        = number
  description = "Number of nodes (primary + replicas). Multi-AZ failover needs at least 2."
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6
    error_message = "num_cache_clusters must be between 1 and 6."
  }
}

variable "multi_az" {
  type        = bool
  description = "Spread nodes across AZs with automatic failover (effective when num_cache_clusters >= 2)."
  default     = true
}

variable "snapshot_retention_limit" {
  type        = number
  description = "Days of daily snapshots to keep (0 disables)."
  default     = 7

  validation {
    condition     = var.snapshot_retention_limit >= 0 && var.snapshot_retention_limit <= 35
    error_message = "Snapshot retention must be between 0 and 35 days."
  }
}

variable "snapshot_window" {
  type        = string
  description = "Daily snapshot window (UTC, hh24:mi-hh24:mi)."
  default     = "01:00-02:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.snapshot_window))
    error_message = "The snapshot window must look like 01:00-02:00."
  }
}

variable "maintenance_window" {
  type        = string
  description = "Weekly maintenance window (UTC, ddd:hh24:mi-ddd:hh24:mi)."
  default     = "sun:04:30-sun:05:30"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]$", var.maintenance_window))
    error_message = "The maintenance window must look like sun:04:30-sun:05:30."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the slow-log and engine-log groups."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "The retention must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "secret_recovery_window_in_days" {
  type        = number
  description = "Days a deleted AUTH secret stays recoverable (0 deletes immediately, for dev only)."
  default     = 30

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "The recovery window must be 0 or between 7 and 30 days."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
