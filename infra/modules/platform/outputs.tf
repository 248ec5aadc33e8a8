output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "nat_public_ips" {
  description = "Egress IPs (give to partners allowlisting webhook sources)."
  value       = module.network.nat_public_ips
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  value       = module.eks.load_balancer_controller_role_arn
}

output "external_secrets_role_arn" {
  description = "IRSA role of the External Secrets controller."
  value       = module.eks.external_secrets_role_arn
}

output "ebs_kms_key_arn" {
  description = "KMS key for the gp3 StorageClass."
  value       = module.eks.ebs_kms_key_arn
}

output "service_role_arns" {
  description = "IRSA role per service (k8s ServiceAccount annotations)."
  value       = module.iam.service_role_arns
}

output "rds_address" {
  description = "PostgreSQL endpoint."
  value       = module.rds.address
}

output "rds_master_secret_arn" {
  description = "RDS-managed master credentials (informational: the bootstrap Job finds this secret by its aws:rds:primaryDBInstanceArn tag)."
  value       = module.rds.master_user_secret_arn
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint (TLS)."
  value       = module.elasticache.primary_endpoint_address
}

output "redis_auth_secret_arn" {
  description = "Secret with the Redis AUTH token."
  value       = module.elasticache.auth_secret_arn
}

output "mq_amqps_endpoint" {
  description = "RabbitMQ AMQPS endpoint."
  value       = module.mq.amqps_endpoint
}

output "mq_admin_secret_arn" {
  description = "RabbitMQ administrative credentials (bootstrap only)."
  value       = module.mq.admin_secret_arn
}

output "events_topic_arn" {
  description = "retail-events SNS topic (bridge configuration)."
  value       = module.messaging.topic_arn
}

output "queue_urls" {
  description = "SQS queue URLs keyed by consumer."
  value       = module.messaging.queue_urls
}

output "secret_arns" {
  description = "Application secret ARNs keyed by <owner>/<kind>."
  value       = module.secrets.secret_arns
}

output "function_urls" {
  description = "Function URLs (psp-webhook: the URL of the Stripe webhook endpoint in staging and prod, APP__SIMULATOR__WEBHOOK_URL of the payment simulator in dev)."
  value       = module.lambda.function_urls
}

output "lambda_published_versions" {
  description = "Latest published version per function (for lambda_live_versions rollbacks)."
  value       = module.lambda.published_versions
}

output "ecr_repository_urls" {
  description = "ECR repository per service image (k8s/overlays/<env>/version.yaml newName)."
  value       = module.ci.repository_urls
}

output "lambda_artifacts_bucket_name" {
  description = "Lambda artifacts bucket (GitHub environment variable LAMBDA_ARTIFACTS_BUCKET)."
  value       = module.s3.artifacts_bucket_name
}

output "assets_bucket_name" {
  description = "Product assets bucket."
  value       = module.s3.assets_bucket_name
}

output "state_bucket_name" {
  description = "Terraform state bucket."
  value       = module.s3.state_bucket_name
}

output "alarm_topic_arn" {
  description = "Alarm SNS topic (subscribe the pager)."
  value       = module.observability.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the functions and queues."
  value       = module.observability.dashboard_name
}

output "github_ecr_push_role_arn" {
  description = "Image push role for workflow runs on main (GitHub repository variable AWS_ECR_PUSH_ROLE_ARN_<ENV>)."
  value       = module.ci.ecr_push_role_arn
}

output "github_deploy_role_arn" {
  description = "Lambda deploy role for jobs in this GitHub environment (environment variable AWS_DEPLOY_ROLE_ARN)."
  value       = module.ci.deploy_role_arn
}

output "github_terraform_plan_role_arn" {
  description = "terraform plan role for pull requests (GitHub repository variable AWS_PLAN_ROLE_ARN_<ENV>)."
  value       = module.ci.terraform_plan_role_arn
}

output "github_terraform_apply_role_arn" {
  description = "terraform apply role for jobs in this GitHub environment (environment variable AWS_APPLY_ROLE_ARN)."
  value       = module.ci.terraform_apply_role_arn
}

output "lambda_reserved_concurrency_total" {
  description = "Reserved concurrency of all functions together; the account's Lambda concurrency quota must be at least this plus the 100 AWS keeps unreserved."
  value       = sum(values(var.lambda_reserved_concurrency))

  precondition {
    condition     = sum(values(var.lambda_reserved_concurrency)) + 100 <= var.lambda_account_concurrency_quota
    error_message = "The functions reserve more Lambda concurrency than the account allows: AWS keeps 100 concurrent executions unreserved, so the quota (lambda_account_concurrency_quota) must be at least the reserved total plus 100. Request a higher 'Concurrent executions' quota (Service Quotas L-B99A9384) and set lambda_account_concurrency_quota to it, or lower lambda_reserved_concurrency."
  }
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role of cluster-autoscaler (argocd/addons values)."
  value       = module.eks.cluster_autoscaler_role_arn
}

output "fluent_bit_role_arn" {
  description = "IRSA role of aws-for-fluent-bit (argocd/addons values)."
  value       = module.eks.fluent_bit_role_arn
}

output "cloudwatch_exporter_role_arn" {
  description = "IRSA role of the CloudWatch exporter (observability/k8s/overlays)."
  value       = module.eks.cloudwatch_exporter_role_arn
}

output "service_log_group_names" {
  description = "CloudWatch log group of each service's container logs (aws-for-fluent-bit writes them)."
  value       = module.eks.service_log_group_names
}

output "bootstrap_role_arn" {
  description = "IRSA role of the bootstrap Job (k8s/overlays/<env>/irsa.yaml)."
  value       = module.iam.bootstrap_role_arn
}

output "alertmanager_secret_arn" {
  description = "Secret the operator fills with Alertmanager's receiver credentials (pagerduty_routing_key, slack_webhook_url)."
  value       = module.secrets.alertmanager_secret_arn
}
