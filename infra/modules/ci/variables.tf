variable "name" {
  type        = string
  description = "Prefix of every name (e.g. retail-prod -> repositories retail-prod/<service>, roles retail-prod-github-*); the apply role may manage IAM roles and policies under this prefix."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "github_repository" {
  type        = string
  description = "The one GitHub repository whose workflow runs may assume the roles, as owner/name (e.g. retail-platform/retail-platform)."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "Give owner/name, e.g. retail-platform/retail-platform."
  }
}

variable "github_environment" {
  type        = string
  description = "GitHub environment whose jobs may assume the deploy and apply roles (protect staging and prod with required reviewers)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.github_environment))
    error_message = "Must be a GitHub environment name."
  }
}

variable "image_push_refs" {
  type        = list(string)
  description = "Git refs whose workflow runs may push images (the sub claim repo:<repo>:ref:<ref>)."
  default     = ["refs/heads/main"]

  validation {
    condition     = length(var.image_push_refs) > 0 && alltrue([for r in var.image_push_refs : can(regex("^refs/(heads|tags)/[A-Za-z0-9._/-]+$", r))])
    error_message = "Give full refs without wildcards, e.g. refs/heads/main."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (one per account; false when another stack owns it)."
  default     = true
}

variable "existing_oidc_provider_arn" {
  type        = string
  description = "ARN of an existing GitHub OIDC provider, used when create_oidc_provider is false."
  default     = ""

  validation {
    condition     = var.existing_oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.existing_oidc_provider_arn))
    error_message = "Must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

# Images

variable "repositories" {
  type        = list(string)
  description = "Images, one ECR repository each: the services (the root Dockerfile with SERVICE=<service>) and, in dev, psp-simulator (SERVICE=payments, BIN=psp-simulator)."
  default     = ["gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"]

  validation {
    condition     = length(var.repositories) > 0 && alltrue([for r in var.repositories : can(regex("^[a-z][a-z0-9-]{1,60}$", r))])
    error_message = "Repository names must be lowercase letters, digits and hyphens."
  }
}

variable "max_image_count" {
  type        = number
  description = "Images kept per repository (older ones expire): every main build pushes one, so this bounds how far back a rollback can go."
  default     = 100

  validation {
    condition     = var.max_image_count >= 5 && var.max_image_count <= 1000
    error_message = "Keep between 5 and 1000 images."
  }
}

variable "untagged_image_expiry_days" {
  type        = number
  description = "Days before untagged images (per-platform pushes of failed builds) expire."
  default     = 7

  validation {
    condition     = var.untagged_image_expiry_days >= 1 && var.untagged_image_expiry_days <= 365
    error_message = "Must be between 1 and 365 days."
  }
}

# Functions

variable "lambda_function_names" {
  type        = list(string)
  description = "Full names of the functions the deploy role may update, publish and alias (e.g. retail-prod-notifier)."

  validation {
    condition     = length(var.lambda_function_names) > 0 && alltrue([for f in var.lambda_function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", f))])
    error_message = "Give at least one Lambda function name (letters, digits, '-' and '_', at most 64)."
  }
}

variable "artifacts_bucket_arn" {
  type        = string
  description = "Lambda artifacts bucket (s3 module output artifacts_bucket_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_bucket_arn))
    error_message = "Must be an S3 bucket ARN."
  }
}

variable "artifacts_kms_key_arn" {
  type        = string
  description = "KMS key of the artifacts bucket."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.artifacts_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

# Terraform

variable "state_bucket_arn" {
  type        = string
  description = "Terraform state bucket (s3 module output state_bucket_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_arn))
    error_message = "Must be an S3 bucket ARN."
  }
}

variable "state_key" {
  type        = string
  description = "Key of this environment's state object, as in backend.tf (e.g. environments/prod/terraform.tfstate)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+\\.tfstate$", var.state_key)) && !can(regex("^/", var.state_key))
    error_message = "Give the backend key, e.g. environments/prod/terraform.tfstate."
  }
}

variable "state_lock_table_arn" {
  type        = string
  description = "Terraform lock table (s3 module output state_lock_table_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/.+$", var.state_lock_table_arn))
    error_message = "Must be a DynamoDB table ARN."
  }
}

variable "state_kms_key_arn" {
  type        = string
  description = "KMS key of the state bucket and lock table."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.state_kms_key_arn))
    error_message = "Must be a KMS key ARN."
  }
}

variable "terraform_managed_secret_arns" {
  type        = list(string)
  description = "Secrets whose values Terraform writes (Redis AUTH, broker admin, account token key): the plan role may read them to refresh them."
  default     = []

  validation {
    condition     = alltrue([for a in var.terraform_managed_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:", a))])
    error_message = "Entries must be Secrets Manager secret ARNs."
  }
}

variable "terraform_managed_secret_kms_key_arns" {
  type        = list(string)
  description = "KMS keys of terraform_managed_secret_arns."
  default     = []

  validation {
    condition     = alltrue([for a in var.terraform_managed_secret_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", a))])
    error_message = "Entries must be KMS key ARNs."
  }
}

variable "attachable_managed_policies" {
  type        = list(string)
  description = "AWS managed policies (path/name under arn:aws:iam::aws:policy/) the apply role may attach to the platform's roles."
  default = [
    "AmazonEKSClusterPolicy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
    "service-role/AmazonEBSCSIDriverPolicy",
    "service-role/AmazonRDSEnhancedMonitoringRole",
  ]

  validation {
    condition     = alltrue([for p in var.attachable_managed_policies : can(regex("^[A-Za-z0-9+=,.@_/-]+$", p)) && !can(regex("(?i)administrator|fullaccess|iam", p))])
    error_message = "Give managed policy names; administrator, *FullAccess and IAM policies are not attachable."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
