# Remote state: S3 with DynamoDB locking, encrypted with the state KMS key.
# Backend blocks cannot use variables: these names must match
# state_bucket_name / state_lock_table_name in terraform.tfvars, and the
# bucket, table and key are created by this stack itself (see "Bootstrap" in
# infra/README.md).
terraform {
  backend "s3" {
    bucket         = "retail-platform-staging-terraform-state"
    key            = "environments/staging/terraform.tfstate"
    region         = "eu-west-1"
    dynamodb_table = "retail-platform-staging-terraform-lock"
    encrypt        = true
    kms_key_id     = "alias/retail-staging-terraform-state"
  }
}
