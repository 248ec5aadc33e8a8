variable "name" {
  type        = string
  description = "Prefix of the function names (e.g. retail-prod -> retail-prod-notifier)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Environment name exposed to the functions as ENVIRONMENT_NAME."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be dev, staging or prod."
  }
}

variable "artifacts_s3_bucket" {
  type        = string
  description = "Bucket holding <artifacts_s3_prefix>/<function>/bootstrap.zip, the code a new function is created with (the s3 module's artifacts bucket). Empty: create from artifacts_dir instead."
  default     = ""

  validation {
    condition     = var.artifacts_s3_bucket == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_s3_bucket))
    error_message = "Must be empty or an S3 bucket name."
  }
}

variable "artifacts_s3_prefix" {
  type        = string
  description = "Key prefix of the live code in artifacts_s3_bucket (the deploy script keeps current/<function>/bootstrap.zip up to date)."
  default     = "current"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*[a-z0-9]$", var.artifacts_s3_prefix))
    error_message = "Give a key prefix without leading or trailing slashes."
  }
}

variable "create_from_not_deployed_stub" {
  type        = bool
  description = "Create new functions from the checked-in not-deployed stub (fails every invocation loudly until the pipeline deploys the real code), so the first apply needs no uploaded artifact. false: create them from the artifact the pipeline uploaded first (artifacts_s3_bucket or artifacts_dir). Existing functions are never affected (Terraform ignores their code)."
  default     = true
}

variable "artifacts_dir" {
  type        = string
  description = "Used only when artifacts_s3_bucket is empty: directory holding <function>/bootstrap.zip from `cargo lambda build --release --arm64 --output-format zip` (the workspace target/lambda)."
  default     = ""

  validation {
    condition     = !can(regex("/$", var.artifacts_dir))
    error_message = "Give the directory without a trailing slash."
  }
}

variable "functions" {
  type = map(object({
    description                     = string
    memory_size                     = number
    timeout                         = number
    reserved_concurrency            = number
    environment                     = map(string)
    event_source                    = string
    source_queue_arn                = string
    batch_size                      = number
    maximum_batching_window_seconds = number
    maximum_concurrency             = number
    policy_arns                     = list(string)
  }))
  description = <<-EOT
    Functions keyed by cargo-lambda binary name. event_source is "sqs" (an event
    source mapping from source_queue_arn with batch_size,
    maximum_batching_window_seconds and maximum_concurrency), "url" (a public
    function URL) or "invoke" (no trigger and no URL: only IAM principals allowed
    lambda:InvokeFunction on its live alias call it, e.g. the gateway); for "url"
    and "invoke" the queue fields are ignored, give "" and 0. policy_arns are
    the business permissions from the iam module.
  EOT

  validation {
    condition     = length(var.functions) > 0 && alltrue([for k in keys(var.functions) : can(regex("^[a-z][a-z0-9-]{1,40}$", k))])
    error_message = "At least one function; names are lowercase letters, digits and hyphens."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : contains(["sqs", "url", "invoke"], f.event_source)])
    error_message = "event_source must be \"sqs\", \"url\" or \"invoke\"."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.memory_size >= 128 && f.memory_size <= 10240])
    error_message = "memory_size must be between 128 and 10240 MB."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.timeout >= 1 && f.timeout <= 900])
    error_message = "timeout must be between 1 and 900 seconds."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.reserved_concurrency >= 1 && f.reserved_concurrency <= 1000])
    error_message = "reserved_concurrency must be between 1 and 1000 (every function gets an explicit bound)."
  }

  validation {
    condition = alltrue([for f in values(var.functions) : f.event_source != "sqs" || (
      can(regex("^arn:aws[a-z-]*:sqs:", f.source_queue_arn)) &&
      f.batch_size >= 1 && f.batch_size <= 10000 &&
      f.maximum_batching_window_seconds >= 0 && f.maximum_batching_window_seconds <= 300 &&
      (f.batch_size <= 10 || f.maximum_batching_window_seconds >= 1)
    )])
    error_message = "SQS functions need a queue ARN, batch_size 1-10000, maximum_batching_window_seconds 0-300 (at least 1 when batch_size > 10)."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.event_source != "sqs" || (f.maximum_concurrency >= 2 && f.maximum_concurrency <= f.reserved_concurrency)])
    error_message = "SQS functions need 2 <= maximum_concurrency <= reserved_concurrency, otherwise the poller is throttled."
  }
}

variable "live_versions" {
  type        = map(string)
  description = "Pin the live alias of a function to an earlier published version (rollback); functions not listed follow the latest publish."
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.live_versions) : can(regex("^[0-9]+$", v))])
    error_message = "Versions are published version numbers, e.g. \"12\"."
  }
}

variable "queue_kms_key_arn" {
  type        = string
  description = "KMS key of the source queues (the messaging module's key)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.queue_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the functions' security group (used when subnet_ids is not empty)."
  default     = ""
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets to run the functions in (egress through NAT with fixed IPs); empty runs them outside the VPC."
  default     = []
}

variable "rust_log" {
  type        = string
  description = "RUST_LOG filter for the functions' tracing subscriber."
  default     = "info"

  validation {
    condition     = can(regex("^[a-z0-9_=,:.-]+$", var.rust_log))
    error_message = "Must be a tracing EnvFilter directive such as info or info,notifier=debug."
  }
}

variable "otel_collector_layer_arn" {
  type        = string
  description = "ARN of the AWS Distro for OpenTelemetry collector layer (arm64) that receives the functions' OTLP spans on localhost:4318; null exports no spans (logs still carry the trace ids)."
  default     = null

  validation {
    condition     = var.otel_collector_layer_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", var.otel_collector_layer_arn))
    error_message = "Must be a versioned Lambda layer ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the function log groups."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "The retention must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "alarm_topic_arns" {
  type        = list(string)
  description = "SNS topics notified when an alarm changes state."
  default     = []
}

variable "errors_alarm_threshold" {
  type        = number
  description = "Errors per 5 minutes that raise the errors alarm."
  default     = 1

  validation {
    condition     = var.errors_alarm_threshold >= 1
    error_message = "The threshold must be at least 1."
  }
}

variable "throttles_alarm_threshold" {
  type        = number
  description = "Throttles per 5 minutes that raise the throttles alarm."
  default     = 1

  validation {
    condition     = var.throttles_alarm_threshold >= 1
    error_message = "The threshold must be at least 1."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
