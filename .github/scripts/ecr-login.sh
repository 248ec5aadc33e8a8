#!/usr/bin/env bash
# Logs docker in to the ECR registry of the account whose credentials are active
# (aws-actions/configure-aws-credentials), and prints `registry=<host>` to
# $GITHUB_OUTPUT (or stdout). Several logins (one per account) live side by side
# in the docker config, so an image can be copied between accounts.
set -euo pipefail

region="${AWS_REGION:?AWS_REGION is not set}"
account="$(aws sts get-caller-identity --query Account --output text)"
registry="${account}.dkr.ecr.${region}.amazonaws.com"

aws ecr get-login-password --region "$region" |
  docker login --username AWS --password-stdin "$registry" >/dev/null

echo "logged in to $registry"
echo "registry=$registry" >>"${GITHUB_OUTPUT:-/dev/stdout}"
