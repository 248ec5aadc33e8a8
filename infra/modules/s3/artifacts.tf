# Lambda artifacts bucket: the zips `cargo lambda build --release --arm64
# --output-format zip` produces, uploaded by the functions pipeline
# (.github/workflows/functions.yml) under two prefixes:
#
#   releases/<function>/<git sha>.zip   every build shipped, for audit and
#                                       redeploys; expires after
#                                       artifacts_release_expiration_days
#   current/<function>/bootstrap.zip    what the live alias serves; the lambda
#                                       module creates functions from it
#
# Same settings as the other buckets: SSE-KMS with its own key, versioning,
# public access blocked, bucket-owner-enforced, TLS 1.2+ only, access logs.

module "artifacts_kms" {
  source = "../kms"

  name        = "${var.name}-artifacts"
  description = "Lambda artifacts bucket ${var.artifacts_bucket_name}"
  tags        = var.tags
}

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_144:Artifacts are rebuilt from source for any commit; cross-region replication is left to a second-region stack
  #checkov:skip=CKV2_AWS_62:No consumer needs object event notifications: the pipeline deploys explicitly after uploading
  bucket = var.artifacts_bucket_name

  tags = merge(var.tags, { Name = var.artifacts_bucket_name, Purpose = "lambda-artifacts" })
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.artifacts_kms.key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "artifacts" {
  bucket        = aws_s3_bucket.artifacts.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${aws_s3_bucket.artifacts.id}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  # Failed uploads anywhere in the bucket.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Shipped builds: kept long enough to redeploy any recent release.
  rule {
    id     = "expire-releases"
    status = "Enabled"

    filter {
      prefix = "releases/"
    }

    expiration {
      days = var.artifacts_release_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  # The live code never expires; the versions it replaced do.
  rule {
    id     = "current-noncurrent-versions"
    status = "Enabled"

    filter {
      prefix = "current/"
    }

    noncurrent_version_expiration {
      noncurrent_days           = 30
      newer_noncurrent_versions = 5
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts" {
  # "s3:*" in a Deny: no request of any kind over plain HTTP or old TLS.
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
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
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
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
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]

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

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
