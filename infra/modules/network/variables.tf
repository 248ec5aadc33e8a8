variable "name" {
  type        = string
  description = "Name prefix for every resource (e.g. retail-prod)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "cidr_block" {
  type        = string
  description = "IPv4 CIDR of the VPC, /16 to /20 (subnets are carved out of it)."

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "The VPC CIDR must be a valid IPv4 CIDR with a prefix length between /16 and /20."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Exactly three availability zones (one subnet of each tier per zone)."

  validation {
    condition     = length(var.availability_zones) == 3 && length(distinct(var.availability_zones)) == 3
    error_message = "Exactly three distinct availability zones are required."
  }
}

variable "enable_nat_gateway" {
  type        = bool
  description = "Create NAT gateways so private subnets reach the internet (EKS pulls, webhooks)."
  default     = true
}

variable "one_nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per AZ (zone-independent egress); false shares a single NAT gateway to save cost."
  default     = true
}

variable "interface_endpoint_services" {
  type        = list(string)
  description = "AWS services reached through interface VPC endpoints (lambda: the gateway invokes its function upstreams, such as webhook-admin, through the Lambda API)."
  default     = ["sns", "sqs", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "sts", "lambda"]

  validation {
    condition = alltrue([for s in var.interface_endpoint_services : contains(
      ["sns", "sqs", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "sts", "kms", "monitoring", "xray", "elasticloadbalancing", "ec2", "ssm", "ssmmessages", "ec2messages", "lambda"], s
    )])
    error_message = "Unsupported interface endpoint service name."
  }
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster name used to tag subnets for discovery; empty to skip the tag."
  default     = ""

  validation {
    condition     = var.cluster_name == "" || can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,99}$", var.cluster_name))
    error_message = "The cluster name must start with a letter and contain letters, digits and hyphens (max 100)."
  }
}

variable "flow_log_retention_in_days" {
  type        = number
  description = "Retention of the VPC flow log group."
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_in_days)
    error_message = "The retention must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}
