#!/usr/bin/env bash
# The example estate end to end on the local SIMULATION target (no Azure, no credentials):
# validate, plan, apply, then a changed manifest planned and applied again.
# Works on a throwaway git copy of the estate, so this repository is never touched.
set -euo pipefail
source "$(dirname "$0")/scratch-estate.sh"
export GIT_AUTHOR_NAME="amlctl demo" GIT_AUTHOR_EMAIL="demo@example.com" \
       GIT_COMMITTER_NAME="amlctl demo" GIT_COMMITTER_EMAIL="demo@example.com"
git init -q -b main && git add -A && git commit -qm "the example estate"
step() { printf '\n== %s\n' "$*"; }
step "amlctl validate --strict"; "$AMLCTL" validate --strict
step "amlctl plan --stack local --from-scratch"; "$AMLCTL" plan --stack local --from-scratch | tail -4
step "amlctl apply --stack local --yes   (the Pulumi engine, local simulation target)"
"$AMLCTL" apply --stack local --yes | grep -E '^ \+ |^Resources|created$|^applied|waiting|waits' | tail -8
step "amlctl apply --stack local --yes   (the fine-tuning run has completed: its model is served)"
"$AMLCTL" apply --stack local --yes | grep -E 'serverless-endpoint|^Resources|^applied'
step "a change: the CPU cluster may grow to 6 nodes"
sed -i 's/max_instances: 4/max_instances: 6/' manifests/compute.yaml
git commit -qam "Let the CPU cluster grow to 6 nodes"
"$AMLCTL" plan --stack local --base HEAD~1 --head HEAD
step "amlctl apply --stack local --yes"
"$AMLCTL" apply --stack local --yes | grep -E '^ ~ |updated|^applied'
step "amlctl apply --stack local --yes   (again: nothing changed)"
"$AMLCTL" apply --stack local --yes
