variable "name" {
  type        = string
  description = "Prefix of the KMS key aliases (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "assets_bucket_name" {
  type        = string
  description = "Globally unique name of the product assets bucket."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.assets_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits or hyphens (no dots, so TLS virtual hosting works)."
  }
}

variable "state_bucket_name" {
  type        = string
  description = "Globally unique name of the Terraform state bucket (the same name as in backend.tf)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits or hyphens (no dots, so TLS virtual hosting works)."
  }
}

variable "state_lock_table_name" {
  type        = string
  description = "Name of the DynamoDB table used for Terraform state locking (the same name as in backend.tf)."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.state_lock_table_name))
    error_message = "Table names are 3-255 letters, digits, '_', '-' or '.'."
  }
}

variable "artifacts_bucket_name" {
  type        = string
  description = "Globally unique name of the Lambda artifacts bucket (zips uploaded by the functions pipeline)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.artifacts_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits or hyphens (no dots, so TLS virtual hosting works)."
  }
}

variable "artifacts_release_expiration_days" {
  type        = number
  description = "Days a shipped build under releases/ is kept (the live code under current/ never expires)."
  default     = 180

  validation {
    condition     = var.artifacts_release_expiration_days >= 7 && var.artifacts_release_expiration_days <= 3650
    error_message = "Must be between 7 and 3650 days."
  }
}

variable "access_logs_bucket_name" {
  type        = string
  description = "Globally unique name of the S3 server access log bucket."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.access_logs_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits or hyphens."
  }
}

variable "assets_noncurrent_version_expiration_days" {
  type        = number
  description = "Days before a replaced asset version is deleted (the newest 3 are always kept)."
  default     = 90

  validation {
    condition     = var.assets_noncurrent_version_expiration_days >= 1 && var.assets_noncurrent_version_expiration_days <= 3650
    error_message = "Must be between 1 and 3650 days."
  }
}

variable "state_noncurrent_version_expiration_days" {
  type        = number
  description = "Days before a replaced state version is deleted (the newest 20 are always kept)."
  default     = 365

  validation {
    condition     = var.state_noncurrent_version_expiration_days >= 30 && var.state_noncurrent_version_expiration_days <= 3650
    error_message = "Keep state versions at least 30 days (max 3650)."
  }
}

variable "access_logs_retention_days" {
  type        = number
  description = "Days S3 access logs are kept."
  default     = 365

  validation {
    condition     = var.access_logs_retention_days >= 1 && var.access_logs_retention_days <= 3650
    error_message = "Must be between 1 and 3650 days."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
