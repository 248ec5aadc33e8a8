terraform {
  required_version = "~> 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
    # random_bytes (the account token key) exists from 3.6.0 on.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    # tls_private_key ED25519 with private_key_pem_pkcs8 (the JWT signing key).
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}
