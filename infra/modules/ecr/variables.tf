variable "name" {
  type        = string
  description = "Namespace of the repositories (e.g. retail-prod -> retail-prod/gateway)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "repositories" {
  type        = list(string)
  description = "Images, one repository each (the services, and psp-simulator where the payment simulator runs)."
  default     = ["gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"]

  validation {
    condition     = length(var.repositories) > 0 && alltrue([for r in var.repositories : can(regex("^[a-z][a-z0-9-]{1,60}$", r))])
    error_message = "Repository names must be lowercase letters, digits and hyphens."
  }
}

variable "max_image_count" {
  type        = number
  description = "Images kept per repository (older ones expire)."
  default     = 50

  validation {
    condition     = var.max_image_count >= 5 && var.max_image_count <= 1000
    error_message = "Keep between 5 and 1000 images."
  }
}

variable "untagged_image_expiry_days" {
  type        = number
  description = "Days before untagged images expire."
  default     = 7

  validation {
    condition     = var.untagged_image_expiry_days >= 1 && var.untagged_image_expiry_days <= 365
    error_message = "Must be between 1 and 365 days."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
