# The delivery pipeline's footprint in one environment's account:
#
# - the service image repositories (the ecr module: immutable tags, scan on
#   push, KMS, lifecycle);
# - the GitHub Actions OIDC provider (one per account);
# - four roles that only workflow runs of one repository can assume, each
#   pinned by the token's `sub` claim to where that run comes from:
#
#   role                    sub                                      used by
#   <name>-github-ecr-push  repo:<repo>:ref:refs/heads/main          main.yml, promote.yml (images)
#   <name>-github-deploy    repo:<repo>:environment:<env>            functions.yml (Lambda code)
#   <name>-github-tf-plan   repo:<repo>:pull_request                 infra.yml (plan on PRs)
#   <name>-github-tf-apply  repo:<repo>:environment:<env>            infra.yml (apply after merge)
#
# Roles pinned to an environment inherit its protection rules (required
# reviewers for staging and prod), so nothing reaches those accounts without
# an approval. Fork pull requests never receive an OIDC token.
#
# The apply role cannot change these four roles or the OIDC provider: a
# change to this module is planned in CI and applied by an operator (see
# infra/README.md), so a workflow can never widen its own permissions.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  oidc_host         = "token.actions.githubusercontent.com"
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.existing_oidc_provider_arn

  role_names = {
    ecr_push = "${var.name}-github-ecr-push"
    deploy   = "${var.name}-github-deploy"
    tf_plan  = "${var.name}-github-tf-plan"
    tf_apply = "${var.name}-github-tf-apply"
  }

  subjects = {
    ecr_push = [for ref in var.image_push_refs : "repo:${var.github_repository}:ref:${ref}"]
    deploy   = ["repo:${var.github_repository}:environment:${var.github_environment}"]
    tf_plan  = ["repo:${var.github_repository}:pull_request"]
    tf_apply = ["repo:${var.github_repository}:environment:${var.github_environment}"]
  }

  function_arns = [
    for f in var.lambda_function_names : "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${f}"
  ]

  via = {
    s3             = "s3.${local.region}.amazonaws.com"
    dynamodb       = "dynamodb.${local.region}.amazonaws.com"
    secretsmanager = "secretsmanager.${local.region}.amazonaws.com"
  }
}

module "ecr" {
  source = "../ecr"

  name                       = var.name
  repositories               = var.repositories
  max_image_count            = var.max_image_count
  untagged_image_expiry_days = var.untagged_image_expiry_days
  tags                       = var.tags
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # IAM validates GitHub's certificate against its trusted root CAs; the API
  # still requires a thumbprint list.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]

  tags = merge(var.tags, { Name = "github-actions" })
}

################################################################################
# Trust: the audience is STS and the subject is exactly one of the role's
# subjects (StringEquals, no wildcards).
################################################################################

data "aws_iam_policy_document" "trust" {
  for_each = local.subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.role_names

  name                 = each.value
  description          = "GitHub Actions (${var.github_repository}): ${each.key} for ${var.name}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600

  tags = merge(var.tags, { Purpose = "github-actions-${replace(each.key, "_", "-")}" })
}
