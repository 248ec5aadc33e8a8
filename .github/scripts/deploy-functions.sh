#!/usr/bin/env bash
# Ships the cargo-lambda functions to one environment (one AWS account), with
# the credentials of its deploy role (infra/modules/ci):
#
#   deploy-functions.sh deploy <dist-dir>
#       for every <dist-dir>/<function>/bootstrap.zip
#       (cargo lambda build --release --arm64 --output-format zip):
#         1. upload it to s3://$ARTIFACTS_BUCKET/releases/<function>/$RELEASE.zip
#         2. update the code of $FUNCTION_PREFIX-<function> from it and publish
#            a version
#         3. move the alias "live" (event source mappings and the function URL
#            use it) to that version
#         4. copy it to current/<function>/bootstrap.zip, the code Terraform
#            creates the function with should it ever be recreated
#       A function Terraform has not created yet is not deployed: its zip
#       only becomes current/<function>/bootstrap.zip, so the next apply creates
#       it with this code.
#   deploy-functions.sh rollback <function> <version>
#       move "live" back to an earlier published version (nothing is rebuilt)
#
# Environment: ARTIFACTS_BUCKET, FUNCTION_PREFIX (e.g. retail-prod), RELEASE
# (the git commit, for deploy), AWS_REGION and AWS credentials. Writes a
# table of what moved to $GITHUB_STEP_SUMMARY when set.
set -euo pipefail

readonly ALIAS=live

die() {
  echo "::error::$*" >&2
  exit 1
}

need() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || die "$name is not set"
  done
}

summary() {
  echo "$1" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"
}

deploy() {
  local dist=$1
  need ARTIFACTS_BUCKET FUNCTION_PREFIX RELEASE
  [[ "$RELEASE" =~ ^[A-Za-z0-9._-]+$ ]] || die "RELEASE must be a plain label such as a commit SHA"
  shopt -s nullglob
  local zips=("$dist"/*/bootstrap.zip)
  ((${#zips[@]} > 0)) || die "no $dist/<function>/bootstrap.zip"

  summary "### Functions ($FUNCTION_PREFIX, release $RELEASE)"
  summary ""
  summary "| function | live before | live now | roll back with |"
  summary "|---|---|---|---|"

  local zip fn name key previous version
  for zip in "${zips[@]}"; do
    fn="$(basename "$(dirname "$zip")")"
    name="$FUNCTION_PREFIX-$fn"
    key="releases/$fn/$RELEASE.zip"
    echo "==> $name"
    aws s3 cp --only-show-errors "$zip" "s3://$ARTIFACTS_BUCKET/$key"

    if ! aws lambda get-function-configuration --function-name "$name" >/dev/null 2>&1; then
      aws s3 cp --only-show-errors "s3://$ARTIFACTS_BUCKET/$key" "s3://$ARTIFACTS_BUCKET/current/$fn/bootstrap.zip"
      echo "::warning::$name does not exist (or this role may not deploy it): uploaded as current/$fn/bootstrap.zip for Terraform to create it from; add it to the environment's lambda_functions"
      summary "| $fn | - | not created yet (seeded current/) | - |"
      continue
    fi

    previous="$(aws lambda get-alias --function-name "$name" --name "$ALIAS" --query FunctionVersion --output text)"
    # A configuration change by Terraform may still be rolling out.
    aws lambda wait function-updated-v2 --function-name "$name"
    version="$(aws lambda update-function-code --function-name "$name" \
      --s3-bucket "$ARTIFACTS_BUCKET" --s3-key "$key" --publish \
      --query Version --output text)"
    [[ "$version" =~ ^[0-9]+$ ]] || die "$name: publishing returned version '$version'"
    aws lambda wait published-version-active --function-name "$name" --qualifier "$version"
    aws lambda update-alias --function-name "$name" --name "$ALIAS" \
      --function-version "$version" --description "release $RELEASE" >/dev/null
    aws s3 cp --only-show-errors "s3://$ARTIFACTS_BUCKET/$key" "s3://$ARTIFACTS_BUCKET/current/$fn/bootstrap.zip"
    echo "$name: $ALIAS $previous -> $version"
    summary "| $fn | $previous | $version | \`deploy-functions.sh rollback $fn $previous\` |"
  done
}

rollback() {
  local fn=$1 version=$2 name previous
  need FUNCTION_PREFIX
  [[ "$fn" =~ ^[a-z][a-z0-9-]{1,40}$ ]] || die "'$fn' is not a function name"
  [[ "$version" =~ ^[0-9]+$ ]] || die "'$version' is not a published version number"
  name="$FUNCTION_PREFIX-$fn"
  aws lambda get-function-configuration --function-name "$name" --qualifier "$version" >/dev/null ||
    die "$name has no published version $version"
  previous="$(aws lambda get-alias --function-name "$name" --name "$ALIAS" --query FunctionVersion --output text)"
  aws lambda update-alias --function-name "$name" --name "$ALIAS" \
    --function-version "$version" --description "rolled back from $previous" >/dev/null
  echo "$name: $ALIAS $previous -> $version"
  summary "Rolled back \`$name\`: $ALIAS $previous -> $version. Record it in lambda_live_versions, or the next terraform apply moves $ALIAS back to the newest version."
}

command=${1:-}
shift || true
case "$command" in
  deploy) [[ $# -eq 1 ]] || die "usage: $0 deploy <dist-dir>"; deploy "$1" ;;
  rollback) [[ $# -eq 2 ]] || die "usage: $0 rollback <function> <version>"; rollback "$1" "$2" ;;
  *) die "usage: $0 deploy <dist-dir> | rollback <function> <version>" ;;
esac
