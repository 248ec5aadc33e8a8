variable "name" {
  type        = string
  description = "Broker name and prefix of its resources (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,48}[a-z0-9]$", var.name))
    error_message = "The name must be 3-50 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the broker."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "Must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets; a single instance uses the first one, a cluster spreads over all of them."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is required."
  }
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups allowed to reach AMQPS (5671) and the management API (443): the EKS cluster security group."

  validation {
    condition     = alltrue([for id in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "Entries must be security group IDs (sg-...)."
  }
}

variable "engine_version" {
  type        = string
  description = "RabbitMQ engine version supported by Amazon MQ (e.g. 3.13)."
  default     = "3.13"

  validation {
    condition     = can(regex("^[34]\\.[0-9]+(\\.[0-9]+)?$", var.engine_version))
    error_message = "The engine version must look like 3.13."
  }
}

variable "host_instance_type" {
  type        = string
  description = "Broker instance type (mq.t3.micro is single-instance only; clusters need mq.m5.large or larger)."

  validation {
    condition     = can(regex("^mq\\.[a-z0-9]+\\.[a-z0-9]+$", var.host_instance_type))
    error_message = "Must be an Amazon MQ instance type such as mq.m5.large."
  }
}

variable "deployment_mode" {
  type        = string
  description = "SINGLE_INSTANCE (dev) or CLUSTER_MULTI_AZ (three nodes across AZs, staging/prod)."
  default     = "CLUSTER_MULTI_AZ"

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.deployment_mode)
    error_message = "deployment_mode must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ."
  }
}

variable "admin_username" {
  type        = string
  description = "Administrative RabbitMQ user created with the broker."
  default     = "retail-admin"

  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]{2,100}$", var.admin_username)) && var.admin_username != "guest"
    error_message = "The user name must be 2-100 characters of letters, digits, '.', '_', '~' or '-', and not 'guest'."
  }
}

variable "maintenance_day_of_week" {
  type        = string
  description = "Day of the weekly maintenance window."
  default     = "SUNDAY"

  validation {
    condition     = contains(["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"], var.maintenance_day_of_week)
    error_message = "Must be a day name in upper case, e.g. SUNDAY."
  }
}

variable "maintenance_time_of_day" {
  type        = string
  description = "Start of the weekly maintenance window (UTC, HH:MM)."
  default     = "05:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_time_of_day))
    error_message = "Must look like 05:00."
  }
}

variable "secret_recovery_window_in_days" {
  type        = number
  description = "Days a deleted credentials secret stays recoverable (0 deletes immediately, for dev only)."
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
