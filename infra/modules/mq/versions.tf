terraform {
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
  }
}
