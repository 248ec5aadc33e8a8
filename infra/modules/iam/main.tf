# Least-privilege IAM for the workloads:
# - one IRSA role per Kubernetes service account (services.tf), trusted only
#   by system:serviceaccount:<namespace>:<service>;
# - the business permissions of the Lambda functions as managed policies
#   (functions.tf), attached by the lambda module next to each function's
#   runtime permissions (logs, tracing, its own queue).
#
# KMS permissions always carry a kms:ViaService condition, so a key can only
# be used through the service that owns the data (Secrets Manager, SQS, ...).

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.region

  via = {
    secretsmanager = "secretsmanager.${local.region}.amazonaws.com"
    sns            = "sns.${local.region}.amazonaws.com"
    sqs            = "sqs.${local.region}.amazonaws.com"
    s3             = "s3.${local.region}.amazonaws.com"
    dynamodb       = "dynamodb.${local.region}.amazonaws.com"
  }
}
