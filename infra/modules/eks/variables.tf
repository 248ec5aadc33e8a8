variable "name" {
  type        = string
  description = "Cluster name, also the prefix of its IAM roles and keys (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane (e.g. 1.31)."
  default     = "1.31"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "The Kubernetes version must be a supported minor version between 1.28 and 1.39, written like 1.31."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets (at least two AZs) for the control-plane ENIs and the nodes."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "endpoint_public_access" {
  type        = bool
  description = "Expose the Kubernetes API endpoint publicly (restricted to public_access_cidrs). The private endpoint is always on."
  default     = false
}

variable "public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public API endpoint when it is enabled (office VPN, CI egress)."
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Public access CIDRs must be valid IPv4 CIDRs and must not be 0.0.0.0/0."
  }
}

variable "cluster_log_retention_in_days" {
  type        = number
  description = "Retention of the control-plane log group."
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cluster_log_retention_in_days)
    error_message = "The retention must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "node_groups" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    ami_type       = string
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = number
    labels         = map(string)
  }))
  description = "Managed node groups keyed by name."

  validation {
    condition     = length(var.node_groups) > 0
    error_message = "At least one node group is required."
  }

  validation {
    condition     = alltrue([for k, g in var.node_groups : can(regex("^[a-z][a-z0-9-]{0,38}$", k))])
    error_message = "Node group names must be lowercase letters, digits and hyphens (max 39)."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : can(regex("^AL2023_(x86_64|ARM_64)_STANDARD$", g.ami_type))])
    error_message = "ami_type must be AL2023_x86_64_STANDARD or AL2023_ARM_64_STANDARD (the launch template assumes /dev/xvda)."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min_size >= 0 && g.min_size <= g.desired_size && g.desired_size <= g.max_size && g.max_size >= 1 && g.max_size <= 100])
    error_message = "Each node group needs 0 <= min_size <= desired_size <= max_size <= 100 and max_size >= 1."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.disk_size_gib >= 20 && g.disk_size_gib <= 1000])
    error_message = "disk_size_gib must be between 20 and 1000."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : length(g.instance_types) > 0])
    error_message = "Each node group needs at least one instance type."
  }
}

variable "addon_versions" {
  type        = map(string)
  description = "Pinned add-on versions keyed by add-on name (vpc-cni, kube-proxy, coredns, aws-ebs-csi-driver); missing keys use the default version for the cluster version."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.addon_versions) : contains(["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"], k)])
    error_message = "Add-on version keys must be vpc-cni, kube-proxy, coredns or aws-ebs-csi-driver."
  }
}

variable "cluster_admin_principal_arns" {
  type        = list(string)
  description = "IAM role ARNs granted cluster-admin through EKS access entries (SSO admin role, break-glass role)."
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "Cluster admin principals must be IAM role ARNs."
  }
}

variable "load_balancer_controller_namespace" {
  type        = string
  description = "Namespace of the AWS Load Balancer Controller service account."
  default     = "kube-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.load_balancer_controller_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

variable "load_balancer_controller_service_account" {
  type        = string
  description = "Service account name of the AWS Load Balancer Controller."
  default     = "aws-load-balancer-controller"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.load_balancer_controller_service_account))
    error_message = "Must be a valid Kubernetes service account name."
  }
}

variable "external_secrets_namespace" {
  type        = string
  description = "Namespace of the External Secrets Operator service account."
  default     = "external-secrets"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.external_secrets_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

variable "external_secrets_service_account" {
  type        = string
  description = "Service account name of the External Secrets Operator controller."
  default     = "external-secrets"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.external_secrets_service_account))
    error_message = "Must be a valid Kubernetes service account name."
  }
}

variable "external_secrets_secret_arns" {
  type        = list(string)
  description = "Secrets Manager ARNs (or ARN patterns such as ...:secret:retail-prod/platform/*) the External Secrets controller may read itself. Empty: the controller role gets no secret access and only per-service SecretStores are used."
  default     = []

  validation {
    condition     = alltrue([for a in var.external_secrets_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", a))])
    error_message = "Entries must be Secrets Manager secret ARNs or ARN patterns."
  }
}

variable "external_secrets_kms_key_arns" {
  type        = list(string)
  description = "KMS keys encrypting the secrets in external_secrets_secret_arns."
  default     = []

  validation {
    condition     = alltrue([for a in var.external_secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", a))])
    error_message = "Entries must be KMS key ARNs."
  }
}

variable "cluster_autoscaler_namespace" {
  type        = string
  description = "Namespace of the cluster-autoscaler service account."
  default     = "kube-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.cluster_autoscaler_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

variable "cluster_autoscaler_service_account" {
  type        = string
  description = "Service account name of cluster-autoscaler."
  default     = "cluster-autoscaler"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.cluster_autoscaler_service_account))
    error_message = "Must be a valid Kubernetes service account name."
  }
}

variable "fluent_bit_namespace" {
  type        = string
  description = "Namespace of the aws-for-fluent-bit service account."
  default     = "amazon-cloudwatch"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.fluent_bit_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

variable "fluent_bit_service_account" {
  type        = string
  description = "Service account name of aws-for-fluent-bit."
  default     = "aws-for-fluent-bit"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.fluent_bit_service_account))
    error_message = "Must be a valid Kubernetes service account name."
  }
}

variable "cloudwatch_exporter_namespace" {
  type        = string
  description = "Namespace of the CloudWatch exporter (YACE) service account (observability/k8s)."
  default     = "monitoring"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.cloudwatch_exporter_namespace))
    error_message = "Must be a valid Kubernetes namespace name."
  }
}

variable "cloudwatch_exporter_service_account" {
  type        = string
  description = "Service account name of the CloudWatch exporter (YACE)."
  default     = "yace"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.cloudwatch_exporter_service_account))
    error_message = "Must be a valid Kubernetes service account name."
  }
}

variable "service_log_group_services" {
  type        = list(string)
  description = "Services that get a container log group /aws/eks/<name>/services/<service>."
  default     = ["gateway", "catalog", "inventory", "orders", "payments", "users", "bridge"]

  validation {
    condition     = alltrue([for s in var.service_log_group_services : can(regex("^[a-z][a-z0-9-]{0,62}$", s))])
    error_message = "Service names must be lowercase letters, digits and hyphens."
  }
}

variable "service_log_retention_in_days" {
  type        = number
  description = "Retention of the services' container log groups; null uses cluster_log_retention_in_days."
  default     = null

  validation {
    condition     = var.service_log_retention_in_days == null || contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.service_log_retention_in_days)
    error_message = "Must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
