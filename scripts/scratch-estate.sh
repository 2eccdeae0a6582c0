# Sourced by the demo scripts: a throwaway copy of the example estate in $WORK (removed on exit),
# the current directory, with amlctl as $AMLCTL. This repository is never touched.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AMLCTL="${AMLCTL:-$REPO/.venv/bin/amlctl}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$REPO/manifests" "$REPO/stacks" "$REPO/Pulumi.yaml" "$WORK/"
printf '.amlctl/\n' > "$WORK/.gitignore"
cd "$WORK"
export PULUMI_CONFIG_PASSPHRASE=""
