output "service_role_arns" {
  description = "IRSA role ARN per service; annotate each ServiceAccount with eks.amazonaws.com/role-arn."
  value       = { for s, r in aws_iam_role.service : s => r.arn }
}

output "function_policy_arns" {
  description = "Managed policies with the business permissions of each Lambda function, as lists (empty for functions that need none)."
  value = {
    notifier           = [aws_iam_policy.function["notifier"].arn]
    webhook-dispatcher = [aws_iam_policy.function["webhook-dispatcher"].arn]
    webhook-admin      = [aws_iam_policy.function["webhook-admin"].arn]
    psp-webhook        = [aws_iam_policy.function["psp-webhook"].arn]
    analytics          = []
  }
}

output "bootstrap_role_arn" {
  description = "IRSA role of the bootstrap Job (annotate the bootstrap service account; k8s/overlays/<env>/irsa.yaml)."
  value       = aws_iam_role.bootstrap.arn
}
