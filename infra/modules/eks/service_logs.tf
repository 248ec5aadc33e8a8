# One CloudWatch log group per platform service for its container logs
# (JSON lines with trace_id, span_id and service), shipped by
# aws-for-fluent-bit with the fluent_bit IRSA role (irsa.tf). Named like the
# control-plane group, /aws/eks/<name>/services/<service>, encrypted with their
# own key and kept service_log_retention_in_days.

locals {
  service_log_group_prefix = "/aws/eks/${var.name}/services"
}

module "service_logs_kms" {
  source = "../kms"

  name                               = "${var.name}-service-logs"
  description                        = "Container log groups of the ${var.name} services"
  cloudwatch_log_group_name_patterns = ["${local.service_log_group_prefix}/*"]
  tags                               = var.tags
}

resource "aws_cloudwatch_log_group" "service" {
  #checkov:skip=CKV_AWS_338:Retention is the service_log_retention_in_days variable (defaults to the control-plane retention): prod keeps a year, dev and staging less to limit cost
  for_each = toset(var.service_log_group_services)

  name              = "${local.service_log_group_prefix}/${each.key}"
  retention_in_days = coalesce(var.service_log_retention_in_days, var.cluster_log_retention_in_days)
  kms_key_id        = module.service_logs_kms.key_arn

  tags = merge(var.tags, { Service = each.key })
}
