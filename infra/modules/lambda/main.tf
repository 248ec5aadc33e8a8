# The cargo-lambda functions (cargo lambda build --release --arm64
# --output-format zip), custom runtime provided.al2023 on arm64.
#
# Terraform owns each function's configuration; the delivery pipeline owns its
# code. After creation the code is shipped by .github/scripts/deploy-functions.sh
# (update the code, publish a version, move the alias "live"), so Terraform
# ignores the code attributes and never reverts a deploy.
#
# A function is created from:
# - create_from_not_deployed_stub = true (default): the checked-in stub
#   not-deployed/bootstrap, which fails every invocation loudly ("NOT
#   DEPLOYED ..." in the log group, Errors alarm) until the pipeline deploys the
#   real code. This lets the very first apply in an empty account create the
#   functions in the same run as the artifacts bucket, with no hand upload; it
#   never serves a fake answer. Order: terraform apply, then the
#   deploy-functions workflow (which builds, uploads current/<name>/bootstrap.zip
#   and moves "live").
# - false: s3://<artifacts_s3_bucket>/<artifacts_s3_prefix>/<name>/bootstrap.zip
#   (or <artifacts_dir>/<name>/bootstrap.zip when no bucket is given), which
#   the pipeline must have uploaded before the apply; the apply fails if it is
#   missing.
#
# Every publish gets a version and the alias "live" points at one; event
# source mappings, the function URL and the callers of "invoke" functions (the
# gateway's lambda:<function>:live upstreams) target the alias, so a rollback
# is an alias move (set live_versions, or `aws lambda update-alias` in an
# incident).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  function_names = { for k, f in var.functions : k => "${var.name}-${k}" }

  sqs_functions = { for k, f in var.functions : k => f if f.event_source == "sqs" }
  url_functions = { for k, f in var.functions : k => f if f.event_source == "url" }

  in_vpc = length(var.subnet_ids) > 0

  # Where a new function's first code comes from.
  from_stub = var.create_from_not_deployed_stub
  from_s3   = !local.from_stub && var.artifacts_s3_bucket != ""

  policy_attachments = merge([
    for k, f in var.functions : {
      for i, arn in f.policy_arns : "${k}/${i}" => { function = k, policy_arn = arn }
    }
  ]...)
}

# The not-deployed stub, zipped from the checked-in script (mode forced to
# 0755: Lambda executes bootstrap).
data "archive_file" "not_deployed" {
  count = local.from_stub ? 1 : 0

  type             = "zip"
  source_file      = "${path.module}/not-deployed/bootstrap"
  output_path      = "${path.root}/.terraform/tmp/lambda-not-deployed-bootstrap.zip"
  output_file_mode = "0755"
}

module "kms" {
  source = "../kms"

  name                               = "${var.name}-lambda"
  description                        = "Log groups and environment variables of the ${var.name} Lambda functions"
  cloudwatch_log_group_name_patterns = ["/aws/lambda/${var.name}-*"]
  tags                               = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is the per-environment log_retention_in_days variable: prod keeps 365 days, dev and staging keep less to limit cost
  for_each = var.functions

  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.kms.key_arn

  tags = merge(var.tags, { Function = each.key })
}

################################################################################
# Network: functions run in the private subnets so partner webhooks leave
# through the NAT gateways' fixed IPs (partners can allowlist them).
################################################################################

resource "aws_security_group" "this" {
  count = local.in_vpc ? 1 : 0

  name        = "${var.name}-lambda"
  description = "Lambda functions of ${var.name}: HTTPS egress only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to AWS APIs (VPC endpoints), partner webhook endpoints and the payment provider"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-lambda" })
}

################################################################################
# Execution roles: runtime permissions here, business permissions attached
# from the iam module (policy_arns).
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = var.functions

  name               = "${local.function_names[each.key]}-lambda"
  description        = "Execution role of the ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = merge(var.tags, { Function = each.key })
}

data "aws_iam_policy_document" "runtime" {
  for_each = var.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }

  # X-Ray trace submission has no resource-level permissions: "*" is the
  # only expressible resource for these two write-only actions.
  statement {
    sid       = "XRayTracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [module.kms.key_arn]
  }

  # What the SQS event source mapping needs (it polls with the execution
  # role). A function whose own code calls its queue (the dispatcher's
  # back-off) gets those actions from its business policy in the iam module.
  dynamic "statement" {
    for_each = each.value.event_source == "sqs" ? [each.value.source_queue_arn] : []

    content {
      sid = "ConsumeOwnQueue"
      actions = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = each.value.event_source == "sqs" ? [var.queue_kms_key_arn] : []

    content {
      sid       = "DecryptOwnQueue"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.amazonaws.com"]
      }
    }
  }

  # Lambda manages the function's ENIs with the execution role. ENI creation
  # is limited to our subnets and security group; the Describe calls have no
  # resource-level permissions.
  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []

    content {
      sid     = "CreateFunctionEnis"
      actions = ["ec2:CreateNetworkInterface"]
      resources = concat(
        [for s in var.subnet_ids : "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/${s}"],
        ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/${aws_security_group.this[0].id}"],
        ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"],
      )
    }
  }

  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []

    content {
      sid = "ManageFunctionEnis"
      actions = [
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"]
    }
  }

  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []

    content {
      sid       = "DescribeNetwork"
      actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "runtime" {
  for_each = var.functions

  name   = "runtime"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.runtime[each.key].json
}

resource "aws_iam_role_policy_attachment" "business" {
  for_each = local.policy_attachments

  role       = aws_iam_role.this[each.value.function].name
  policy_arn = each.value.policy_arn
}

################################################################################
# Functions, versions and the live alias
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:SQS-triggered functions dead-letter through their source queue's redrive policy; psp-webhook and webhook-admin are invoked synchronously, so an async DLQ would never receive anything
  #checkov:skip=CKV_AWS_272:Artifacts are built from source by CI (cargo lambda build) and pinned by source_code_hash; AWS Signer code signing is not used
  for_each = var.functions

  function_name = local.function_names[each.key]
  description   = each.value.description
  role          = aws_iam_role.this[each.key].arn

  # S3 mode needs no local zip (try: no error while the bucket name is still
  # unknown, e.g. in `terraform validate`); local mode needs no bucket.
  s3_bucket = local.from_s3 ? var.artifacts_s3_bucket : null
  s3_key    = local.from_s3 ? "${var.artifacts_s3_prefix}/${each.key}/bootstrap.zip" : null
  filename = (
    local.from_stub ? data.archive_file.not_deployed[0].output_path :
    local.from_s3 ? null : "${var.artifacts_dir}/${each.key}/bootstrap.zip"
  )
  source_code_hash = (
    local.from_stub ? data.archive_file.not_deployed[0].output_base64sha256 :
    local.from_s3 ? null : try(filebase64sha256("${var.artifacts_dir}/${each.key}/bootstrap.zip"), null)
  )
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = ["arm64"]

  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrency
  publish                        = true
  kms_key_arn                    = module.kms.key_arn

  # The ADOT collector extension, when configured, receives the functions' OTLP spans on
  # localhost:4318 and forwards them to X-Ray (function_kit::telemetry flushes them at the
  # end of every invocation).
  layers = var.otel_collector_layer_arn == null ? [] : [var.otel_collector_layer_arn]

  environment {
    variables = merge(
      {
        RUST_LOG         = var.rust_log
        SERVICE_NAME     = each.key
        ENVIRONMENT_NAME = var.environment
      },
      var.otel_collector_layer_arn == null ? {} : {
        OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
      },
      each.value.environment,
    )
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []

    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = [aws_security_group.this[0].id]
    }
  }

  tags = merge(var.tags, { Function = each.key })

  # Code is shipped by the pipeline (update code, publish, move live); a
  # later plan must not put back the code the function was created with.
  lifecycle {
    ignore_changes = [filename, source_code_hash, s3_bucket, s3_key, s3_object_version]
  }

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.runtime,
    aws_iam_role_policy_attachment.business,
  ]
}

resource "aws_lambda_alias" "live" {
  for_each = var.functions

  name             = "live"
  description      = "Version serving traffic; move it to roll back"
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = lookup(var.live_versions, each.key, aws_lambda_function.this[each.key].version)
}

################################################################################
# Triggers
################################################################################

resource "aws_lambda_event_source_mapping" "sqs" {
  for_each = local.sqs_functions

  event_source_arn = each.value.source_queue_arn
  function_name    = aws_lambda_alias.live[each.key].arn
  enabled          = true

  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.maximum_batching_window_seconds

  # Handlers return SqsBatchResponse: only the failed messages are retried.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = each.value.maximum_concurrency
  }

  depends_on = [aws_iam_role_policy.runtime]
}

# psp-webhook: the payment provider calls this URL. It has no AWS
# credentials, so IAM auth is impossible; every request is authenticated by
# the function itself (HMAC signature with the secret from Secrets Manager,
# timestamp tolerance, replay rejection) before anything is enqueued.
resource "aws_lambda_function_url" "this" {
  #checkov:skip=CKV_AWS_258:Public by design for the payment provider's callbacks; requests are authenticated by HMAC signature verification inside the function
  for_each = local.url_functions

  function_name      = aws_lambda_function.this[each.key].function_name
  qualifier          = aws_lambda_alias.live[each.key].name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

# A public (auth NONE) function URL needs two resource-policy statements
# since October 2025: lambda:InvokeFunctionUrl for auth type NONE, and
# lambda:InvokeFunction limited to invocations through the function URL
# (lambda:InvokedViaFunctionUrl; invoked_via_function_url needs aws provider
# >= 6.29). Both on the live alias the URL serves; neither lets anyone invoke
# the function through the Lambda API.
resource "aws_lambda_permission" "function_url" {
  #checkov:skip=CKV_AWS_301:Principal "*" limited to lambda:InvokeFunctionUrl with FunctionUrlAuthType NONE: the payment provider's signed callbacks; no other invocation path is opened
  for_each = local.url_functions

  statement_id           = "AllowPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this[each.key].function_name
  qualifier              = aws_lambda_alias.live[each.key].name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "function_url_invoke" {
  #checkov:skip=CKV_AWS_301:Principal "*" limited to lambda:InvokeFunction through the function URL only (lambda:InvokedViaFunctionUrl): the payment provider's signed callbacks; a direct Invoke API call is not allowed
  for_each = local.url_functions

  statement_id             = "AllowPublicFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this[each.key].function_name
  qualifier                = aws_lambda_alias.live[each.key].name
  principal                = "*"
  invoked_via_function_url = true
}
