output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Endpoint of the Kubernetes API."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the cluster."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group EKS attaches to the control plane and managed nodes; data stores allow ingress from it."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider for IRSA."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "OIDC issuer host and path (no scheme), the prefix of IRSA condition keys."
  value       = local.oidc_issuer
}

output "node_role_arn" {
  description = "IAM role of the managed nodes."
  value       = aws_iam_role.node.arn
}

output "load_balancer_controller_role_arn" {
  description = "IRSA role for the AWS Load Balancer Controller (annotate its service account)."
  value       = aws_iam_role.irsa["load_balancer_controller"].arn
}

output "external_secrets_role_arn" {
  description = "IRSA role for the External Secrets Operator controller."
  value       = aws_iam_role.irsa["external_secrets"].arn
}

output "kms_key_arn" {
  description = "KMS key encrypting Kubernetes secrets and control-plane logs."
  value       = module.kms.key_arn
}

output "ebs_kms_key_arn" {
  description = "KMS key for EBS volumes (use it in the gp3 StorageClass)."
  value       = module.ebs_kms.key_arn
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role for cluster-autoscaler (annotate kube-system/cluster-autoscaler)."
  value       = aws_iam_role.irsa["cluster_autoscaler"].arn
}

output "fluent_bit_role_arn" {
  description = "IRSA role for aws-for-fluent-bit (annotate amazon-cloudwatch/aws-for-fluent-bit)."
  value       = aws_iam_role.irsa["fluent_bit"].arn
}

output "service_log_group_names" {
  description = "Container log group per service (/aws/eks/<name>/services/<service>), for the aws-for-fluent-bit values."
  value       = { for s, g in aws_cloudwatch_log_group.service : s => g.name }
}

output "service_log_group_prefix" {
  description = "Prefix of the services' container log groups (log_group_name = <prefix>/<service>)."
  value       = local.service_log_group_prefix
}

output "cloudwatch_exporter_role_arn" {
  description = "IRSA role for the CloudWatch exporter (annotate monitoring/yace; observability/k8s/overlays)."
  value       = aws_iam_role.irsa["cloudwatch_exporter"].arn
}
