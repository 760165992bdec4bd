#!/usr/bin/env bash
# Build the transfer function for Lambda (arm64, provided.al2023) with cargo-lambda and
# deploy deploy/template.json: the DSQL cluster, the function and its execution role.
#
#   scripts/deploy.sh --bucket MY-ARTIFACT-BUCKET [--stack reinvent-dat401] [--region us-east-1]
#                     [--role admin|myapp] [--retry-policy unlimited|none|backoff:...]
#                     [--provisioned N] [--dry-run]
#
# --dry-run prints every command instead of running it. Needs: the AWS CLI with
# credentials, and cargo-lambda (installed from PyPI when missing). Tear down with
# scripts/teardown.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

stack=reinvent-dat401 region="" bucket="" role=admin retry=unlimited provisioned=0 dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack="$2"; shift 2 ;;
    --region) region="$2"; shift 2 ;;
    --bucket) bucket="$2"; shift 2 ;;
    --role) role="$2"; shift 2 ;;
    --retry-policy) retry="$2"; shift 2 ;;
    --provisioned) provisioned="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$bucket" ] || { echo "deploy.sh: --bucket is required (an S3 bucket for the function's zip)" >&2; exit 2; }
case "$role" in admin|myapp) ;; *) echo "deploy.sh: --role must be admin or myapp, got $role" >&2; exit 2 ;; esac
[[ "$provisioned" =~ ^[0-9]+$ ]] || { echo "deploy.sh: --provisioned must be a number, got $provisioned" >&2; exit 2; }
region_args=()
[ -n "$region" ] && region_args=(--region "$region")

run() {
  if [ "$dry" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

if [ "$dry" = 0 ] && ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "installing cargo-lambda from PyPI..." >&2
  pip install --quiet cargo-lambda
fi
run cargo lambda build --profile lambda --arm64 --bin transfer-lambda --output-format zip
zip=target/lambda/transfer-lambda/bootstrap.zip
if [ "$dry" = 1 ] && [ ! -f "$zip" ]; then digest=DIGEST; else digest=$(sha256sum "$zip" | cut -c1-16); fi
key="transfer-lambda/$digest.zip"
run aws "${region_args[@]}" s3 cp "$zip" "s3://$bucket/$key"
run aws "${region_args[@]}" cloudformation deploy --stack-name "$stack" \
  --template-file deploy/template.json --capabilities CAPABILITY_IAM \
  --parameter-overrides "CodeBucket=$bucket" "CodeKey=$key" "DatabaseRole=$role" \
  "RetryPolicy=$retry" "ProvisionedConcurrency=$provisioned"
run aws "${region_args[@]}" cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs" --output table
