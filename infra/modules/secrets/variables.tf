variable "name" {
  type        = string
  description = "Path prefix of every secret name (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "secrets" {
  type        = map(list(string))
  description = "Secrets to create, as owner (service or function) => kinds; each becomes <name>/<owner>/<kind> and only the owner's role may read it. catalog has no rabbitmq user: it neither publishes nor consumes events."
  default = {
    catalog     = ["database"]
    inventory   = ["database", "rabbitmq"]
    orders      = ["database", "rabbitmq"]
    payments    = ["database", "rabbitmq", "psp-api-key"]
    users       = ["database", "rabbitmq", "jwt-signing-keys"]
    bridge      = ["rabbitmq"]
    psp-webhook = ["signing-secret"]
  }

  validation {
    condition     = alltrue(flatten([for owner, kinds in var.secrets : concat([can(regex("^[a-z][a-z0-9-]{1,40}$", owner))], [for k in kinds : can(regex("^[a-z][a-z0-9-]{1,60}$", k))])]))
    error_message = "Owners and kinds must be lowercase letters, digits and hyphens."
  }

  validation {
    condition     = !contains(keys(var.secrets), "webhooks") && !contains(keys(var.secrets), "platform")
    error_message = "The webhooks/ and platform/ prefixes are reserved (runtime webhook secrets, platform secrets)."
  }

  validation {
    condition     = !contains(lookup(var.secrets, "users", []), "account-token-key")
    error_message = "users/account-token-key is created (and generated) by the module itself: do not list it."
  }
}

variable "rotation_lambda_arns" {
  type        = map(string)
  description = "Rotation function ARN per secret key (<owner>/<kind>); keys not listed are rotated by the runbook."
  default     = {}

  validation {
    condition     = alltrue([for arn in values(var.rotation_lambda_arns) : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:.+$", arn))])
    error_message = "Rotation functions must be Lambda function ARNs."
  }
}

variable "rotation_days" {
  type        = number
  description = "Days between automatic rotations for secrets with a rotation function."
  default     = 30

  validation {
    condition     = var.rotation_days >= 1 && var.rotation_days <= 365
    error_message = "Rotation interval must be between 1 and 365 days."
  }
}

variable "recovery_window_in_days" {
  type        = number
  description = "Days a deleted secret stays recoverable (0 deletes immediately, for dev only)."
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "The recovery window must be 0 or between 7 and 30 days."
  }
}

variable "database_host" {
  type        = string
  description = "PostgreSQL endpoint written into the generated <service>/database secrets (rds module output address)."
}

variable "database_port" {
  type        = number
  description = "PostgreSQL port written into the generated <service>/database secrets (rds module output port)."
  default     = 5432

  validation {
    condition     = var.database_port > 0 && var.database_port < 65536
    error_message = "Must be a TCP port."
  }
}

variable "amqp_host" {
  type        = string
  description = "Amazon MQ broker host written into the generated <service>/rabbitmq secrets (mq module output amqps_host)."
}

variable "amqp_port" {
  type        = number
  description = "AMQPS port of the broker (Amazon MQ for RabbitMQ: 5671)."
  default     = 5671

  validation {
    condition     = var.amqp_port > 0 && var.amqp_port < 65536
    error_message = "Must be a TCP port."
  }
}

variable "amqp_vhost" {
  type        = string
  description = "RabbitMQ virtual host of the platform's users."
  default     = "/"
}

variable "payment_simulator" {
  type        = bool
  description = "The environment runs the payment simulator instead of Stripe (dev): Terraform generates its API key (payments/psp-api-key, sk_test_simulator_...) and its webhook signing secret (psp-webhook/signing-secret, whsec_...). With Stripe (staging, prod) leave false and put the Stripe secret key and the webhook endpoint's signing secret in by hand: only Stripe can issue them."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
