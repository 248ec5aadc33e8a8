variable "name" {
  type        = string
  description = "Key name; the alias becomes alias/<name>."

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{3,200}$", var.name)) && !can(regex("^aws/", var.name))
    error_message = "The name must be 3-200 characters of letters, digits, '/', '_' or '-' and must not start with 'aws/'."
  }
}

variable "description" {
  type        = string
  description = "What the key protects (shown in the KMS console)."

  validation {
    condition     = length(var.description) > 0 && length(var.description) <= 8192
    error_message = "The description must be 1-8192 characters."
  }
}

variable "deletion_window_in_days" {
  type        = number
  description = "Waiting period before a scheduled key deletion completes."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "The deletion window must be between 7 and 30 days."
  }
}

variable "cloudwatch_log_group_name_patterns" {
  type        = list(string)
  description = "Log group names (wildcards allowed, e.g. /aws/lambda/retail-prod-*) that CloudWatch Logs may encrypt with this key. Empty: no CloudWatch Logs grant."
  default     = []

  validation {
    condition     = alltrue([for p in var.cloudwatch_log_group_name_patterns : can(regex("^[a-zA-Z0-9_/.#*-]+$", p))])
    error_message = "Log group name patterns may contain letters, digits and _ / . # - * only."
  }
}

variable "service_principals" {
  type        = list(string)
  description = "AWS service principals (e.g. sns.amazonaws.com) allowed kms:Decrypt and kms:GenerateDataKey on behalf of this account."
  default     = []

  validation {
    condition     = alltrue([for p in var.service_principals : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", p))])
    error_message = "Service principals must look like <service>.amazonaws.com."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}

variable "grant_principal_arns" {
  type        = list(string)
  description = "IAM role ARNs (typically service-linked roles) that may use the key and create grants for AWS resources."
  default     = []

  validation {
    condition     = alltrue([for a in var.grant_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "Grant principals must be IAM role ARNs."
  }
}
