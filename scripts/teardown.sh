#!/usr/bin/env bash
# Delete the stack deploy.sh made (the DSQL cluster, the function, its role) and wait.
#   scripts/teardown.sh [--stack reinvent-dat401] [--region us-east-1] [--dry-run]
set -euo pipefail
stack=reinvent-dat401 region="" dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack="$2"; shift 2 ;;
    --region) region="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "teardown.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
region_args=()
[ -n "$region" ] && region_args=(--region "$region")
run() {
  if [ "$dry" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
run aws "${region_args[@]}" cloudformation delete-stack --stack-name "$stack"
run aws "${region_args[@]}" cloudformation wait stack-delete-complete --stack-name "$stack"
[ "$dry" = 1 ] || echo "stack $stack deleted" >&2
