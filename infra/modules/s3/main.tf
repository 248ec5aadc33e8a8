# S3 buckets: product assets, Terraform state (+ its DynamoDB lock table) and
# the server access log bucket both of them log to. Every bucket: versioning,
# public access blocked, bucket-owner-enforced ownership, TLS-only policy,
# lifecycle rules.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  kms_buckets = {
    assets = {
      name            = var.assets_bucket_name
      kms_key_arn     = module.assets_kms.key_arn
      noncurrent_days = var.assets_noncurrent_version_expiration_days
      keep_versions   = 3
    }
    state = {
      name            = var.state_bucket_name
      kms_key_arn     = module.state_kms.key_arn
      noncurrent_days = var.state_noncurrent_version_expiration_days
      keep_versions   = 20
    }
  }
}

module "assets_kms" {
  source = "../kms"

  name        = "${var.name}-assets"
  description = "Assets bucket ${var.assets_bucket_name}"
  tags        = var.tags
}

module "state_kms" {
  source = "../kms"

  name        = "${var.name}-terraform-state"
  description = "Terraform state bucket ${var.state_bucket_name} and its lock table"
  tags        = var.tags
}

################################################################################
# Assets and state buckets (SSE-KMS)
################################################################################

resource "aws_s3_bucket" "assets" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to a second-region stack; objects are versioned and retained
  #checkov:skip=CKV2_AWS_62:No consumer needs object event notifications from this bucket
  bucket = var.assets_bucket_name

  tags = merge(var.tags, { Name = var.assets_bucket_name, Purpose = "assets" })
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:Cross-region replication of Terraform state is left to a second-region stack; every state version is kept and retained
  #checkov:skip=CKV2_AWS_62:No consumer needs object event notifications from the state bucket
  bucket = var.state_bucket_name

  tags = merge(var.tags, { Name = var.state_bucket_name, Purpose = "terraform-state" })

  # Losing the state bucket loses track of every resource.
  lifecycle {
    prevent_destroy = true
  }
}

locals {
  kms_bucket_ids = {
    assets = aws_s3_bucket.assets.id
    state  = aws_s3_bucket.state.id
  }
  kms_bucket_arns = {
    assets = aws_s3_bucket.assets.arn
    state  = aws_s3_bucket.state.arn
  }
}

resource "aws_s3_bucket_ownership_controls" "kms" {
  for_each = local.kms_buckets

  bucket = local.kms_bucket_ids[each.key]

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "kms" {
  for_each = local.kms_buckets

  bucket                  = local.kms_bucket_ids[each.key]
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "kms" {
  for_each = local.kms_buckets

  bucket = local.kms_bucket_ids[each.key]

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "kms" {
  for_each = local.kms_buckets

  bucket = local.kms_bucket_ids[each.key]

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = each.value.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "kms" {
  for_each = local.kms_buckets

  bucket        = local.kms_bucket_ids[each.key]
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.value.name}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "kms" {
  for_each = local.kms_buckets

  bucket = local.kms_bucket_ids[each.key]

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days           = each.value.noncurrent_days
      newer_noncurrent_versions = each.value.keep_versions
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.kms]
}

data "aws_iam_policy_document" "kms_bucket" {
  for_each = local.kms_buckets

  # "s3:*" in a Deny: no request of any kind over plain HTTP or old TLS.
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      local.kms_bucket_arns[each.key],
      "${local.kms_bucket_arns[each.key]}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTLS"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      local.kms_bucket_arns[each.key],
      "${local.kms_bucket_arns[each.key]}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # Writers may rely on the bucket default (SSE-KMS) or ask for SSE-KMS, but
  # must not downgrade an object to SSE-S3.
  statement {
    sid       = "DenyNonKmsEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${local.kms_bucket_arns[each.key]}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }
}

resource "aws_s3_bucket_policy" "kms" {
  for_each = local.kms_buckets

  bucket = local.kms_bucket_ids[each.key]
  policy = data.aws_iam_policy_document.kms_bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.kms]
}

################################################################################
# Terraform state lock table
################################################################################

resource "aws_dynamodb_table" "state_lock" {
  name                        = var.state_lock_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "LockID"
  deletion_protection_enabled = true

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.state_kms.key_arn
  }

  tags = merge(var.tags, { Name = var.state_lock_table_name })

  lifecycle {
    prevent_destroy = true
  }
}
