variable "name" {
  type        = string
  description = "Prefix of the topic, alarm and dashboard names (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "function_names" {
  type        = map(string)
  description = "Lambda function names keyed by function (lambda module output function_names)."
}

variable "queue_names" {
  type        = map(string)
  description = "Main SQS queue names keyed by consumer (messaging module output queue_names)."
}

variable "dlq_names" {
  type        = map(string)
  description = "Dead-letter queue names keyed by consumer (messaging module output dlq_names)."
}

variable "queue_age_alarm_threshold_seconds" {
  type        = number
  description = "Alarm when the oldest message of a main queue is older than this."
  default     = 900

  validation {
    condition     = var.queue_age_alarm_threshold_seconds >= 60 && var.queue_age_alarm_threshold_seconds <= 1209600
    error_message = "The threshold must be between 60 seconds and 14 days."
  }
}

variable "lambda_error_rate_threshold_percent" {
  type        = number
  description = "Alarm when more than this percentage of a function's invocations fail."
  default     = 5

  validation {
    condition     = var.lambda_error_rate_threshold_percent > 0 && var.lambda_error_rate_threshold_percent <= 100
    error_message = "The threshold is a percentage between 0 (exclusive) and 100."
  }
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm topic (each must confirm); pager integrations subscribe separately."
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "Entries must be e-mail addresses."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
