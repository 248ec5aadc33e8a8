terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    # random_bytes (the account token key) exists from 3.6.0 on.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
