variable "name" {
  type        = string
  description = "Prefix of the role name (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "github_owner" {
  type        = string
  description = "GitHub organisation or user owning the repository."

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github_owner))
    error_message = "Must be a GitHub owner name."
  }
}

variable "github_repository" {
  type        = string
  description = "Repository name (without the owner)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "Must be a GitHub repository name without the owner."
  }
}

variable "github_environment" {
  type        = string
  description = "GitHub environment whose jobs may assume the role (protect prod with required reviewers)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.github_environment))
    error_message = "Must be a GitHub environment name."
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

variable "ecr_repository_arns" {
  type        = list(string)
  description = "Repositories the deploy role may push to."

  validation {
    condition     = length(var.ecr_repository_arns) > 0 && alltrue([for a in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:", a))])
    error_message = "Give at least one ECR repository ARN."
  }
}

variable "lambda_function_arns" {
  type        = list(string)
  description = "Unqualified ARNs of the functions the deploy role may update."

  validation {
    condition     = length(var.lambda_function_arns) > 0 && alltrue([for a in var.lambda_function_arns : can(regex("^arn:aws[a-z-]*:lambda:", a))])
    error_message = "Give at least one Lambda function ARN."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
