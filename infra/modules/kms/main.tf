# A customer managed KMS key with rotation and an explicit key policy.
#
# Every other module that stores or queues data calls this module once, so each
# data domain (flow logs, cluster secrets, database, cache, queues, ...) has its
# own key: revoking or auditing one domain never touches another.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # Using the key for data (no management, no grants): what CloudWatch Logs
  # and the grant principals below may do with it.
  key_use_actions = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
  ]

  # The account root must be able to manage the key, otherwise IAM policies in
  # this account cannot grant access to it and the key becomes unmanageable.
  # "kms:*" on "*" is the AWS default key policy statement: inside a key policy
  # "*" means "this key", and the wildcard action is what delegates the
  # decision to IAM (which our roles then scope to specific actions).
  root_statement = [{
    Sid       = "EnableIAMPolicies"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }]

  # CloudWatch Logs encrypts log groups with the key itself, so it needs a key
  # policy grant, limited by encryption context to the named log groups.
  logs_statement = [for statement in [{
    Sid       = "AllowCloudWatchLogs"
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action    = local.key_use_actions
    Resource  = "*"
    Condition = {
      ArnLike = {
        "kms:EncryptionContext:aws:logs:arn" = [
          for pattern in var.cloudwatch_log_group_name_patterns :
          "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${pattern}"
        ]
      }
    }
  }] : statement if length(var.cloudwatch_log_group_name_patterns) > 0]

  # Services that encrypt on our behalf (SNS delivering to encrypted SQS
  # queues, CloudWatch alarms publishing to an encrypted topic, ...).
  service_statement = [for statement in [{
    Sid       = "AllowAWSServices"
    Effect    = "Allow"
    Principal = { Service = var.service_principals }
    Action = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    Resource = "*"
    Condition = {
      StringEquals = { "aws:SourceAccount" = local.account_id }
    }
  }] : statement if length(var.service_principals) > 0]

  # Principals that attach the key to AWS resources they create for us, e.g.
  # the Auto Scaling service-linked role launching encrypted EBS volumes for
  # EKS managed node groups. CreateGrant is limited to AWS resources.
  grant_statements = [for statement in [
    {
      Sid       = "AllowKeyUseByServiceRoles"
      Effect    = "Allow"
      Principal = { AWS = var.grant_principal_arns }
      Action    = local.key_use_actions
      Resource  = "*"
    },
    {
      Sid       = "AllowGrantsForAWSResources"
      Effect    = "Allow"
      Principal = { AWS = var.grant_principal_arns }
      Action    = "kms:CreateGrant"
      Resource  = "*"
      Condition = {
        Bool = { "kms:GrantIsForAWSResource" = "true" }
      }
    },
  ] : statement if length(var.grant_principal_arns) > 0]
}

resource "aws_kms_key" "this" {
  description             = var.description
  deletion_window_in_days = var.deletion_window_in_days
  enable_key_rotation     = true
  multi_region            = false

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.root_statement, local.logs_statement, local.service_statement, local.grant_statements)
  })

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
