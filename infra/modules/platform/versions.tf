terraform {
  # moved blocks in the environment roots need >= 1.1, output preconditions
  # >= 1.2; CI (.github/workflows/*.yml) runs 1.9.8.
  required_version = "~> 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
  }
}
