# What each pipeline role may do. Wildcard resources appear only where the
# action has no resource-level permissions, and are commented there.

locals {
  iam_prefix = "arn:${local.partition}:iam::${local.account_id}"

  # The platform's own IAM namespace: every role and policy the modules create
  # is named <name>-...
  platform_roles    = "${local.iam_prefix}:role/${var.name}-*"
  platform_policies = "${local.iam_prefix}:policy/${var.name}-*"

  # The pipeline's own roles and the GitHub provider: never writable by a
  # workflow (a change here is applied by an operator).
  pipeline_resources = concat(
    [for r in values(local.role_names) : "${local.iam_prefix}:role/${r}"],
    ["${local.iam_prefix}:oidc-provider/${local.oidc_host}"],
  )

  # AWS managed policies the modules attach (EKS cluster and nodes, the CNI
  # and EBS CSI add-ons, RDS Enhanced Monitoring).
  attachable_managed_policies = [
    for p in var.attachable_managed_policies : "arn:${local.partition}:iam::aws:policy/${p}"
  ]

  state_object = "${var.state_bucket_arn}/${var.state_key}"
}

################################################################################
# ECR push (main branch): push and read the service images, nothing else.
################################################################################

data "aws_iam_policy_document" "ecr_push" {
  # GetAuthorizationToken has no resource-level permissions; the registry
  # token grants nothing beyond the repository permissions below.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushServiceImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImageScanFindings",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:ListImages",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = values(module.ecr.repository_arns)
  }
}

################################################################################
# Deploy (environment): ship Lambda code through the artifacts bucket.
################################################################################

data "aws_iam_policy_document" "deploy" {
  statement {
    sid = "ShipFunctionCode"
    actions = [
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:ListAliases",
      "lambda:ListVersionsByFunction",
      "lambda:PublishVersion",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
    ]
    resources = concat(local.function_arns, [for arn in local.function_arns : "${arn}:*"])
  }

  # Uploads go to releases/ (every build) and current/ (the live code new
  # functions are created from); Lambda reads the object with the caller's
  # permissions when the code is updated from S3.
  statement {
    sid       = "WriteArtifacts"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.artifacts_bucket_arn}/releases/*", "${var.artifacts_bucket_arn}/current/*"]
  }

  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["releases/*", "current/*"]
    }
  }

  statement {
    sid       = "ArtifactsKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.artifacts_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.s3]
    }
  }
}

################################################################################
# Terraform state: shared by plan (read) and apply (read, write, lock).
################################################################################

data "aws_iam_policy_document" "tf_plan" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]

    # The state object, and the workspace prefix `terraform init` lists.
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.state_key, "env:/*"]
    }
  }

  statement {
    sid       = "ReadState"
    actions   = ["s3:GetObject"]
    resources = [local.state_object]
  }

  # Plans run with -lock=false; the backend still reads the state digest
  # kept in the lock table.
  statement {
    sid       = "ReadStateDigest"
    actions   = ["dynamodb:GetItem", "dynamodb:DescribeTable"]
    resources = [var.state_lock_table_arn]
  }

  statement {
    sid       = "DecryptState"
    actions   = ["kms:Decrypt"]
    resources = [var.state_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.s3, local.via.dynamodb]
    }
  }

  # Refreshing aws_secretsmanager_secret_version reads the values Terraform
  # itself wrote (Redis AUTH token, broker admin password, account token
  # key); they are in the state already, so this adds no new knowledge.
  dynamic "statement" {
    for_each = length(var.terraform_managed_secret_arns) > 0 ? [1] : []

    content {
      sid       = "RefreshTerraformSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.terraform_managed_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.terraform_managed_secret_kms_key_arns) > 0 ? [1] : []

    content {
      sid       = "DecryptTerraformSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.terraform_managed_secret_kms_key_arns

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via.secretsmanager]
      }
    }
  }

  # ReadOnlyAccess covers the control-plane reads a plan needs, and also
  # some data-plane reads a plan never needs: refuse those explicitly
  # (objects outside the state file, table items, queue messages,
  # parameters).
  statement {
    sid           = "NoObjectReadsButState"
    effect        = "Deny"
    actions       = ["s3:GetObject", "s3:GetObjectVersion"]
    not_resources = [local.state_object]
  }

  statement {
    sid    = "NoItemReadsButStateDigest"
    effect = "Deny"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:Query",
      "dynamodb:Scan",
    ]
    not_resources = [var.state_lock_table_arn]
  }

  # "*" in a Deny: no message or parameter values anywhere.
  statement {
    sid    = "NoMessageOrParameterReads"
    effect = "Deny"
    actions = [
      "sqs:ReceiveMessage",
      "ssm:GetParameter",
      "ssm:GetParameters",
      "ssm:GetParametersByPath",
    ]
    resources = ["*"]
  }
}

################################################################################
# Terraform apply (environment): the stack's own resources.
################################################################################

data "aws_iam_policy_document" "tf_apply" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]

    # The state object, and the workspace prefix `terraform init` lists.
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.state_key, "env:/*"]
    }
  }

  statement {
    sid       = "ReadWriteState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.state_object]
  }

  statement {
    sid       = "LockState"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [var.state_lock_table_arn]
  }

  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.state_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.s3, local.via.dynamodb]
    }
  }

  # PowerUserAccess (attached below) excludes IAM. The stack manages its own
  # roles and policies, all named <name>-..., and the EKS OIDC provider.
  statement {
    sid = "ReadIam"
    actions = [
      "iam:GetOpenIDConnectProvider",
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListEntitiesForPolicy",
      "iam:ListInstanceProfilesForRole",
      "iam:ListPolicyVersions",
      "iam:ListRolePolicies",
      "iam:ListRoleTags",
      "iam:ListPolicyTags",
      "iam:ListOpenIDConnectProviderTags",
    ]
    resources = [
      local.platform_roles,
      local.platform_policies,
      "${local.iam_prefix}:oidc-provider/*",
      "arn:${local.partition}:iam::aws:policy/*",
    ]
  }

  statement {
    sid = "ManagePlatformRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = [local.platform_roles]
  }

  statement {
    sid = "ManagePlatformPolicies"
    actions = [
      "iam:CreatePolicy",
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:TagPolicy",
      "iam:UntagPolicy",
    ]
    resources = [local.platform_policies]
  }

  # Attach only the platform's own policies and the AWS managed policies the
  # modules use, never e.g. AdministratorAccess.
  statement {
    sid       = "AttachKnownPolicies"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = [local.platform_roles]

    condition {
      test     = "ArnLike"
      variable = "iam:PolicyARN"
      values   = concat([local.platform_policies], local.attachable_managed_policies)
    }
  }

  # EKS (cluster, nodes), Lambda, RDS monitoring and flow logs take the
  # platform's roles.
  statement {
    sid       = "PassPlatformRoles"
    actions   = ["iam:PassRole"]
    resources = [local.platform_roles]
  }

  statement {
    sid = "ManageClusterOidcProvider"
    actions = [
      "iam:AddClientIDToOpenIDConnectProvider",
      "iam:CreateOpenIDConnectProvider",
      "iam:DeleteOpenIDConnectProvider",
      "iam:RemoveClientIDFromOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider",
      "iam:UntagOpenIDConnectProvider",
      "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    resources = ["${local.iam_prefix}:oidc-provider/oidc.eks.${local.region}.amazonaws.com/id/*"]
  }

  # No IAM change of any kind to the pipeline's own roles or the GitHub
  # provider (reads stay allowed, so plans still refresh them): a workflow
  # cannot widen its own permissions.
  statement {
    sid    = "NeverChangeThePipeline"
    effect = "Deny"
    actions = [
      "iam:Add*",
      "iam:Attach*",
      "iam:Create*",
      "iam:Delete*",
      "iam:Detach*",
      "iam:PassRole",
      "iam:Put*",
      "iam:Remove*",
      "iam:Tag*",
      "iam:Untag*",
      "iam:Update*",
    ]
    resources = local.pipeline_resources
  }
}

################################################################################
# Attach the policies
################################################################################

resource "aws_iam_role_policy" "ecr_push" {
  name   = "push-service-images"
  role   = aws_iam_role.this["ecr_push"].id
  policy = data.aws_iam_policy_document.ecr_push.json
}

resource "aws_iam_role_policy" "deploy" {
  name   = "ship-function-code"
  role   = aws_iam_role.this["deploy"].id
  policy = data.aws_iam_policy_document.deploy.json
}

# A plan reads the configuration of nearly every AWS service the stack uses:
# the AWS managed read-only policy tracks new services and read actions,
# which a hand-written list would lag behind. Data-plane reads are denied in
# the inline policy.
resource "aws_iam_role_policy_attachment" "tf_plan_read_only" {
  role       = aws_iam_role.this["tf_plan"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_role_policy" "tf_plan" {
  name   = "terraform-plan"
  role   = aws_iam_role.this["tf_plan"].id
  policy = data.aws_iam_policy_document.tf_plan.json
}

# Applying the stack creates and changes resources in most services it uses
# (VPC, EKS, RDS, ElastiCache, MQ, SNS, SQS, Lambda, DynamoDB, S3, KMS,
# Secrets Manager, CloudWatch): PowerUserAccess, which excludes IAM and
# Organizations; the IAM the stack needs is granted, scoped to its own
# names, in the inline policy.
resource "aws_iam_role_policy_attachment" "tf_apply_power_user" {
  role       = aws_iam_role.this["tf_apply"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/PowerUserAccess"
}

resource "aws_iam_role_policy" "tf_apply" {
  name   = "terraform-apply"
  role   = aws_iam_role.this["tf_apply"].id
  policy = data.aws_iam_policy_document.tf_apply.json
}
