#!/usr/bin/env bash
# The README's pull-request and audit examples, produced for real: a throwaway git copy of the
# example estate, a pull request merged the way GitHub merges it, applies, then `blame`.
# This machine has no Azure, so the copy points prod at the local simulation target; in CI the
# same commands read prod's update history from its azblob backend.
set -euo pipefail
source "$(dirname "$0")/scratch-estate.sh"
as() { GIT_AUTHOR_NAME="$1" GIT_AUTHOR_EMAIL="$2" GIT_COMMITTER_NAME="$1" GIT_COMMITTER_EMAIL="$2" \
       GIT_AUTHOR_DATE="$3" GIT_COMMITTER_DATE="$3" "${@:4}"; }
sed -i 's/amlctl:target: azure/amlctl:target: local/' stacks/Pulumi.prod.yaml
git init -q -b main
# prod's one secret (the Azure OpenAI key of a connection), as a Pulumi secret in the stack file.
"$AMLCTL" pulumi --stack prod -- config set --secret amlctl:openaiKey not-a-real-key >/dev/null
as "Platform Team" platform@example.com "2026-11-02T09:00:00Z" git add -A
as "Platform Team" platform@example.com "2026-11-02T09:00:00Z" git commit -qm "The credit-risk estate"
step() { printf '\n== %s\n' "$*"; }

step "first apply of prod (local simulation standing in for Azure)"
"$AMLCTL" apply --stack prod --yes | tail -2

# Pull request #12: prod's GPU cluster may grow to 12 nodes.
git checkout -q -b gpu-12
sed -i 's/spec: {max_instances: 8, tier: dedicated}/spec: {max_instances: 12, tier: dedicated}/' stacks/Pulumi.prod.yaml
as "Ben Okafor" ben@example.com "2026-11-16T14:05:00Z" git commit -qam "prod: GPU cluster may grow to 12 nodes for the quarterly retrain"
step "the pull request's plan comment: amlctl plan --stack prod --base main --head HEAD --output markdown"
"$AMLCTL" plan --stack prod --base main --head HEAD --output markdown
git checkout -q main
as "GitHub" noreply@github.com "2026-11-17T08:30:00Z" git merge -q --no-ff gpu-12 -m "Merge pull request #12 from credit-risk/gpu-12"
step "on merge: amlctl changed, then amlctl apply --stack prod --yes"
"$AMLCTL" changed --base HEAD~1 --head HEAD --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stacks"])'
"$AMLCTL" apply --stack prod --yes | tail -2

step "the audit: amlctl blame Compute/gpu-cluster --stack prod"
"$AMLCTL" blame Compute/gpu-cluster --stack prod
step "amlctl history --stack prod"
"$AMLCTL" history --stack prod
