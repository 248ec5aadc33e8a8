#!/usr/bin/env bash
# Tags, copies and signs service images in ECR. Every command can run again
# after a failure: ECR tags are immutable, so an existing tag is checked instead
# of pushed twice, and an image already signed (or attested) by this workflow
# is not signed again.
#
#   publish-image.sh index  <repository> <tag> <digests-dir>
#       one multi-arch tag from the per-platform digests (files named by the
#       hex digest) pushed by the build jobs; prints digest=<sha256:...>
#   publish-image.sh copy   <source-ref> <repository> <tag>
#       the same image into another registry (another account); prints digest=
#   publish-image.sh sign   <repository>@<digest> [<spdx-json-sbom>]
#       cosign keyless signature, plus the SBOM as a signed attestation
#
# Needs docker buildx, cosign, jq, and docker logins to the registries involved
# (ecr-login.sh). Signing needs the job's OIDC token (id-token: write).
set -euo pipefail

die() {
  echo "::error::$*" >&2
  exit 1
}

output() {
  echo "$1"
  echo "$1" >>"${GITHUB_OUTPUT:-/dev/null}"
}

# The digest a reference resolves to, or nothing when it does not exist.
digest_of() {
  docker buildx imagetools inspect "$1" --format '{{json .Manifest}}' 2>/dev/null | jq -r '.digest // empty'
}

# The identity keyless signatures of this workflow carry:
# https://github.com/<owner>/<repo>/.github/workflows/<file>@<ref>.
identity() {
  echo "${GITHUB_SERVER_URL:?}/${GITHUB_WORKFLOW_REF:?}"
}

index() {
  local repository=$1 tag=$2 dir=$3 existing
  existing="$(digest_of "$repository:$tag")"
  if [[ -n "$existing" ]]; then
    echo "$repository:$tag already exists"
    output "digest=$existing"
    return
  fi
  local sources=() file
  for file in "$dir"/*; do
    [[ -f "$file" ]] || continue
    sources+=("$repository@sha256:$(basename "$file")")
  done
  ((${#sources[@]} > 0)) || die "no platform digests in $dir"
  docker buildx imagetools create --tag "$repository:$tag" "${sources[@]}"
  output "digest=$(digest_of "$repository:$tag")"
}

copy() {
  local source=$1 repository=$2 tag=$3 existing
  existing="$(digest_of "$repository:$tag")"
  if [[ -z "$existing" ]]; then
    docker buildx imagetools create --tag "$repository:$tag" "$source"
    existing="$(digest_of "$repository:$tag")"
  else
    echo "$repository:$tag already exists"
  fi
  [[ -n "$existing" ]] || die "$repository:$tag has no digest after the copy"
  output "digest=$existing"
}

sign() {
  local reference=$1 sbom=${2:-}
  [[ "$reference" == *@sha256:* ]] || die "sign takes <repository>@sha256:<digest>, got $reference"
  local verify=(--certificate-identity "$(identity)" --certificate-oidc-issuer https://token.actions.githubusercontent.com)
  if cosign verify "${verify[@]}" "$reference" >/dev/null 2>&1; then
    echo "$reference is already signed by $(identity)"
  else
    cosign sign --yes "$reference"
  fi
  [[ -n "$sbom" ]] || return 0
  if cosign verify-attestation --type spdxjson "${verify[@]}" "$reference" >/dev/null 2>&1; then
    echo "$reference already carries the SBOM attestation"
  else
    cosign attest --yes --type spdxjson --predicate "$sbom" "$reference"
  fi
}

command=${1:-}
shift || true
case "$command" in
  index) [[ $# -eq 3 ]] || die "usage: $0 index <repository> <tag> <digests-dir>"; index "$@" ;;
  copy) [[ $# -eq 3 ]] || die "usage: $0 copy <source-ref> <repository> <tag>"; copy "$@" ;;
  sign) [[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 sign <repository>@<digest> [sbom]"; sign "$@" ;;
  *) die "usage: $0 index|copy|sign ..." ;;
esac
