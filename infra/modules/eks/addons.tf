# vpc-cni and kube-proxy must exist before nodes join; coredns and the EBS
# CSI driver need nodes to schedule on.

locals {
  addon_roles = {
    "vpc-cni"            = aws_iam_role.irsa["vpc_cni"].arn
    "aws-ebs-csi-driver" = aws_iam_role.irsa["ebs_csi"].arn
  }

  addon_configuration = {
    # Enforce Kubernetes NetworkPolicies (the platform relies on default-deny).
    "vpc-cni" = jsonencode({ enableNetworkPolicy = "true" })
  }
}

resource "aws_eks_addon" "before_compute" {
  for_each = toset(["vpc-cni", "kube-proxy"])

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = lookup(var.addon_versions, each.key, null)
  service_account_role_arn    = lookup(local.addon_roles, each.key, null)
  configuration_values        = lookup(local.addon_configuration, each.key, null)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  tags = var.tags
}

resource "aws_eks_addon" "after_compute" {
  for_each = toset(["coredns", "aws-ebs-csi-driver"])

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = lookup(var.addon_versions, each.key, null)
  service_account_role_arn    = lookup(local.addon_roles, each.key, null)
  configuration_values        = lookup(local.addon_configuration, each.key, null)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  tags = var.tags

  depends_on = [aws_eks_node_group.this]
}
