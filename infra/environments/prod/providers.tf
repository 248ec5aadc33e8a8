terraform {
  # Same minor version as CI (.github/workflows/*.yml: 1.9.8); moved blocks
  # (moved.tf) need >= 1.1.
  required_version = "~> 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.5"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

provider "aws" {
  region = var.aws_region

  # Refuse to touch any account but this environment's.
  allowed_account_ids = [var.aws_account_id]
}
