variable "name" {
  type        = string
  description = "Prefix of the role and policy names (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the EKS cluster's IAM OIDC provider."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "Must be an IAM OIDC provider ARN."
  }
}

variable "oidc_issuer" {
  type        = string
  description = "OIDC issuer without scheme (oidc.eks.<region>.amazonaws.com/id/<id>), the prefix of the IRSA condition keys."

  validation {
    condition     = !can(regex("^https?://", var.oidc_issuer)) && length(var.oidc_issuer) > 0
    error_message = "Give the issuer without the https:// scheme."
  }
}

variable "kubernetes_namespace" {
  type        = string
  description = "Namespace of the service accounts; each service account is named after its service."
  default     = "retail"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.kubernetes_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

variable "secret_arns_by_owner" {
  type        = map(list(string))
  description = "Secrets Manager ARNs each service or function owns (secrets module output secret_arns_by_owner)."
}

variable "secrets_kms_key_arn" {
  type        = string
  description = "KMS key of the application secrets."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.secrets_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

variable "redis_auth_secret_arn" {
  type        = string
  description = "Secret holding the Redis AUTH token and endpoints."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:", var.redis_auth_secret_arn))
    error_message = "Must be a Secrets Manager secret ARN."
  }
}

variable "redis_kms_key_arn" {
  type        = string
  description = "KMS key encrypting the Redis AUTH secret."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.redis_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

variable "redis_clients" {
  type        = list(string)
  description = "Services that connect to Redis (rate limits, product cache, carts, sessions)."
  default     = ["gateway", "catalog", "orders", "users"]

  validation {
    condition     = alltrue([for s in var.redis_clients : contains(["gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"], s)])
    error_message = "Redis clients must be platform services."
  }
}

variable "events_topic_arn" {
  type        = string
  description = "ARN of the retail-events SNS topic (the bridge's only publish target)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:", var.events_topic_arn))
    error_message = "Must be an SNS topic ARN."
  }
}

variable "messaging_kms_key_arn" {
  type        = string
  description = "KMS key of the topic and queues."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.messaging_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

variable "psp_callbacks_queue_arn" {
  type        = string
  description = "ARN of the payments-psp-callbacks queue (psp-webhook sends, payments consumes)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:", var.psp_callbacks_queue_arn))
    error_message = "Must be an SQS queue ARN."
  }
}

variable "webhook_dispatcher_queue_arn" {
  type        = string
  description = "ARN of the webhook-dispatcher's source queue (messaging module output queue_arns[\"webhook-dispatcher\"]): its back-off calls GetQueueUrl and ChangeMessageVisibility on it. While null the back-off cannot run and records wait out the queue's visibility timeout instead."
  default     = null

  validation {
    condition     = var.webhook_dispatcher_queue_arn == null || can(regex("^arn:aws[a-z-]*:sqs:", var.webhook_dispatcher_queue_arn))
    error_message = "Must be an SQS queue ARN."
  }
}

variable "notifier_idempotency_table_arn" {
  type        = string
  description = "ARN of the notifier idempotency table."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:", var.notifier_idempotency_table_arn))
    error_message = "Must be a DynamoDB table ARN."
  }
}

variable "webhook_subscriptions_table_arn" {
  type        = string
  description = "ARN of the webhook subscriptions table."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:", var.webhook_subscriptions_table_arn))
    error_message = "Must be a DynamoDB table ARN."
  }
}

variable "webhook_deliveries_table_arn" {
  type        = string
  description = "ARN of the webhook deliveries table."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:", var.webhook_deliveries_table_arn))
    error_message = "Must be a DynamoDB table ARN."
  }
}

variable "psp_callbacks_seen_table_arn" {
  type        = string
  description = "ARN of the table of payment provider callback ids psp-webhook has accepted (replay rejection)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:", var.psp_callbacks_seen_table_arn))
    error_message = "Must be a DynamoDB table ARN."
  }
}

variable "dynamodb_kms_key_arn" {
  type        = string
  description = "KMS key of the DynamoDB tables."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.dynamodb_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

variable "webhook_endpoint_secret_arn_pattern" {
  type        = string
  description = "ARN pattern of the partner endpoint secrets (secrets module output)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:.+/webhooks/\\*$", var.webhook_endpoint_secret_arn_pattern))
    error_message = "Must be a Secrets Manager ARN pattern ending in /webhooks/*."
  }
}

variable "psp_webhook_secret_arn" {
  type        = string
  description = "Secret with the payment provider's callback signing secret."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:", var.psp_webhook_secret_arn))
    error_message = "Must be a Secrets Manager secret ARN."
  }
}

variable "account_token_key_secret_arn" {
  type        = string
  description = "Secret with the account token key (secrets module output account_token_key_secret_arn): the notifier opens the account email tokens users sealed with it."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:", var.account_token_key_secret_arn))
    error_message = "Must be a Secrets Manager secret ARN."
  }
}

variable "gateway_function_arns" {
  type        = list(string)
  description = "Qualified ARNs (function:<name>:<alias>) of the Lambda functions the gateway invokes as upstreams (url = lambda:<name>:<alias>), e.g. the webhook-admin live alias (lambda module output live_alias_arns)."
  default     = []

  validation {
    condition     = alltrue([for a in var.gateway_function_arns : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$", a))])
    error_message = "Entries must be qualified Lambda ARNs (an alias or version), so the gateway can invoke only what the alias points at."
  }
}

variable "ses_identity_arns" {
  type        = list(string)
  description = "Verified SES identities (domain or address) the notifier may send from; the identities are verified outside Terraform (DNS records)."
  default     = []

  validation {
    condition     = alltrue([for a in var.ses_identity_arns : can(regex("^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/.+$", a))])
    error_message = "Entries must be SES identity ARNs."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}

variable "bootstrap_secret_arns" {
  type        = list(string)
  description = "Secrets the bootstrap Job reads by name: every service's database and rabbitmq secret, the Amazon MQ admin secret."
}

variable "bootstrap_rds_instance_arn" {
  type        = string
  description = "ARN of the DB instance whose RDS-managed master secret (rds!db-*, tagged aws:rds:primaryDBInstanceArn = this ARN) the bootstrap Job reads."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:db:[a-z][a-z0-9-]*$", var.bootstrap_rds_instance_arn))
    error_message = "Must be an RDS DB instance ARN (arn:aws:rds:<region>:<account>:db:<identifier>)."
  }
}

variable "bootstrap_kms_key_arns" {
  type        = list(string)
  description = "KMS keys of the bootstrap Job's secrets (decrypt through Secrets Manager only)."
}
