# IAM roles for the cluster's own controllers, each trusted only by its
# Kubernetes service account through the cluster OIDC provider. Application
# service roles live in the iam module.

locals {
  oidc_issuer = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  irsa = {
    vpc_cni = {
      namespace       = "kube-system"
      service_account = "aws-node"
    }
    ebs_csi = {
      namespace       = "kube-system"
      service_account = "ebs-csi-controller-sa"
    }
    load_balancer_controller = {
      namespace       = var.load_balancer_controller_namespace
      service_account = var.load_balancer_controller_service_account
    }
    external_secrets = {
      namespace       = var.external_secrets_namespace
      service_account = var.external_secrets_service_account
    }
    cluster_autoscaler = {
      namespace       = var.cluster_autoscaler_namespace
      service_account = var.cluster_autoscaler_service_account
    }
    fluent_bit = {
      namespace       = var.fluent_bit_namespace
      service_account = var.fluent_bit_service_account
    }
    cloudwatch_exporter = {
      namespace       = var.cloudwatch_exporter_namespace
      service_account = var.cloudwatch_exporter_service_account
    }
  }
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa

  name               = "${var.name}-${replace(each.key, "_", "-")}"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume[each.key].json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "vpc_cni" {
  role       = aws_iam_role.irsa["vpc_cni"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.irsa["ebs_csi"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# Persistent volumes are encrypted with the EBS key.
data "aws_iam_policy_document" "ebs_csi_kms" {
  statement {
    sid = "UseEbsKey"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:DescribeKey",
    ]
    resources = [module.ebs_kms.key_arn]
  }

  statement {
    sid       = "GrantEbsKeyToVolumes"
    actions   = ["kms:CreateGrant"]
    resources = [module.ebs_kms.key_arn]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role_policy" "ebs_csi_kms" {
  name   = "ebs-kms"
  role   = aws_iam_role.irsa["ebs_csi"].id
  policy = data.aws_iam_policy_document.ebs_csi_kms.json
}

resource "aws_iam_role_policy" "load_balancer_controller" {
  name   = "aws-load-balancer-controller"
  role   = aws_iam_role.irsa["load_balancer_controller"].id
  policy = data.aws_iam_policy_document.load_balancer_controller.json
}

# External Secrets reads the platform secrets named here (e.g. retail-prod/platform/*).
# Application secrets are read per service: each service's SecretStore
# authenticates with that service's own IRSA role (iam module), so this
# controller role never sees them.
data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid = "ReadPlatformSecrets"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
      "secretsmanager:ListSecretVersionIds",
    ]
    resources = var.external_secrets_secret_arns
  }

  dynamic "statement" {
    for_each = length(var.external_secrets_kms_key_arns) > 0 ? [var.external_secrets_kms_key_arns] : []

    content {
      sid       = "DecryptPlatformSecrets"
      actions   = ["kms:Decrypt"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }
}

data "aws_region" "current" {}

resource "aws_iam_role_policy" "external_secrets" {
  count = length(var.external_secrets_secret_arns) > 0 ? 1 : 0

  name   = "read-platform-secrets"
  role   = aws_iam_role.irsa["external_secrets"].id
  policy = data.aws_iam_policy_document.external_secrets.json
}

################################################################################
# cluster-autoscaler: resizes the managed node groups' Auto Scaling groups.
# EKS tags every managed node group's ASG with
# k8s.io/cluster-autoscaler/<cluster> = owned, so the two write actions are
# limited to this cluster's groups by that tag; the reads it needs for
# auto-discovery and scale-from-zero templates have no resource-level
# permissions.
################################################################################

data "aws_iam_policy_document" "cluster_autoscaler" {
  #checkov:skip=CKV_AWS_356:The Describe*/Get* discovery calls of cluster-autoscaler support no resource-level permissions; the write actions are limited by the cluster's ownership tag
  #checkov:skip=CKV_AWS_111:Write actions are constrained by the aws:ResourceTag/k8s.io/cluster-autoscaler/<cluster> = owned condition (ASG ARNs carry random ids unknown before the node groups exist)
  statement {
    sid = "DiscoverNodeGroups"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeOwnNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${data.aws_region.current.region}:${local.account_id}:nodegroup/${aws_eks_cluster.this.name}/*/*"]
  }

  statement {
    sid = "ResizeOwnNodeGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${aws_eks_cluster.this.name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role_policy" "cluster_autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.irsa["cluster_autoscaler"].id
  policy = data.aws_iam_policy_document.cluster_autoscaler.json
}

################################################################################
# aws-for-fluent-bit: ships the services' container logs to their log groups
# (service_logs.tf). The groups are created here with retention and KMS, so
# the role cannot create groups or write anywhere else.
################################################################################

data "aws_iam_policy_document" "fluent_bit" {
  statement {
    sid     = "WriteServiceLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = flatten([
      for group in aws_cloudwatch_log_group.service : [group.arn, "${group.arn}:*"]
    ])
  }
}

resource "aws_iam_role_policy" "fluent_bit" {
  name   = "write-service-logs"
  role   = aws_iam_role.irsa["fluent_bit"].id
  policy = data.aws_iam_policy_document.fluent_bit.json
}

# YACE (observability/k8s/base/yace): reads the Amazon MQ metrics from
# CloudWatch so the RabbitMQ alerts have data. Discovery lists tagged
# resources; GetMetricData/ListMetrics have no resource-level permissions.
data "aws_iam_policy_document" "cloudwatch_exporter" {
  #checkov:skip=CKV_AWS_356:cloudwatch:GetMetricData, cloudwatch:ListMetrics and tag:GetResources support no resource-level permissions: "*" is the only expressible resource, and every action is read-only
  statement {
    sid       = "ReadMetricsOfTaggedResources"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "tag:GetResources"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "cloudwatch_exporter" {
  name   = "read-cloudwatch-metrics"
  role   = aws_iam_role.irsa["cloudwatch_exporter"].id
  policy = data.aws_iam_policy_document.cloudwatch_exporter.json
}
