terraform {
  required_version = "~> 1.9"

  required_providers {
    # 6.29: aws_lambda_permission.invoked_via_function_url (the function URL's
    # second permission statement). Every module of the configuration allows 6.x.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
    # The not-deployed stub zip (data.archive_file, output_file_mode).
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}
