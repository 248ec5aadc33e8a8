variable "name" {
  type        = string
  description = "Prefix of the queue names (e.g. retail-prod -> retail-prod-notifier)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "topic_name" {
  type        = string
  description = "Name of the SNS topic the bridge publishes to (the contract name is retail-events)."
  default     = "retail-events"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.topic_name))
    error_message = "Topic names are 1-256 letters, digits, hyphens or underscores."
  }
}

variable "subscriptions" {
  type        = map(list(string))
  description = "Queues subscribed to the topic, keyed by consumer name, with the event types (event_type attribute values) each receives; an empty list receives every event type."
  default = {
    notifier           = ["order.confirmed", "order.cancelled", "order.shipped", "payment.refunded", "user.registered", "user.registration_attempted", "user.password_reset_requested", "user.password_changed"]
    webhook-dispatcher = ["order.placed", "order.confirmed", "order.cancelled", "order.shipped", "inventory.reserved", "inventory.rejected", "inventory.released", "stock.low", "payment.authorized", "payment.failed", "payment.captured", "payment.refunded", "product.created", "product.updated", "product.deleted"]
    analytics          = ["order.placed", "order.confirmed", "order.cancelled", "payment.captured", "payment.refunded"]
  }

  validation {
    condition     = alltrue([for k in keys(var.subscriptions) : can(regex("^[a-z][a-z0-9-]{1,40}$", k))])
    error_message = "Subscription (queue) names must be lowercase letters, digits and hyphens."
  }

  validation {
    condition     = alltrue(flatten([for types in values(var.subscriptions) : [for t in types : can(regex("^[a-z]+\\.[a-z_]+$", t))]]))
    error_message = "Event types look like <aggregate>.<verb>, e.g. order.placed."
  }

  validation {
    condition     = alltrue([for types in values(var.subscriptions) : length(types) <= 150])
    error_message = "An SNS filter policy accepts at most 150 values."
  }
}

variable "standalone_queues" {
  type        = list(string)
  description = "Queues not subscribed to the topic (written by a producer directly), e.g. payments-psp-callbacks."
  default     = ["payments-psp-callbacks"]

  validation {
    condition     = alltrue([for q in var.standalone_queues : can(regex("^[a-z][a-z0-9-]{1,40}$", q))])
    error_message = "Queue names must be lowercase letters, digits and hyphens."
  }
}

variable "visibility_timeout_seconds" {
  type        = number
  description = "Visibility timeout of the main queues; at least six times the consuming Lambda's timeout."
  default     = 180

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "The visibility timeout must be between 0 and 43200 seconds."
  }
}

variable "message_retention_seconds" {
  type        = number
  description = "How long the main queues keep a message."
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "Message retention must be between 60 and 1209600 seconds."
  }
}

variable "dlq_message_retention_seconds" {
  type        = number
  description = "How long the dead-letter queues keep a message (keep it longer than the main queues)."
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "Message retention must be between 60 and 1209600 seconds."
  }
}

variable "max_receive_count" {
  type        = number
  description = "Receives before a message moves to the dead-letter queue."
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "maxReceiveCount must be between 1 and 1000."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
