#!/usr/bin/env bash
# Build the Pulumi CLI (the engine the Automation API drives) from Go modules, for machines that
# cannot download Pulumi releases. Idempotent: does nothing when that version is already built.
#
#   scripts/build-pulumi-engine.sh [VERSION]     (default: the pulumi Python SDK version installed)
#
# Result: $AMLCTL_PULUMI_ROOT/<version>/bin/{pulumi,pulumi-resource-pulumi-python}
# (AMLCTL_PULUMI_ROOT defaults to ~/.cache/amlctl/pulumi, outside the repository).
set -euo pipefail

VERSION="${1:-}"
if [ -z "$VERSION" ]; then
  VERSION="$("${PYTHON:-python3}" -c 'import importlib.metadata as m; print(m.version("pulumi"))' 2>/dev/null || true)"
fi
[ -n "$VERSION" ] || { echo "usage: $0 VERSION (no pulumi Python SDK installed to take it from)" >&2; exit 2; }
VERSION="${VERSION#v}"

ROOT="${AMLCTL_PULUMI_ROOT:-$HOME/.cache/amlctl/pulumi}"
PREFIX="$ROOT/$VERSION"
if [ -x "$PREFIX/bin/pulumi" ] && [ "$("$PREFIX/bin/pulumi" version 2>/dev/null)" = "v$VERSION" ]; then
  echo "pulumi v$VERSION already built in $PREFIX"
  exit 0
fi

command -v go >/dev/null || { echo "Go is needed to build the Pulumi engine (apt-get install golang, or use an official Pulumi install)" >&2; exit 1; }
export GOMODCACHE="${GOMODCACHE:-$ROOT/gomodcache}" GOCACHE="${GOCACHE:-$ROOT/gocache}" GOFLAGS=-mod=mod GOTOOLCHAIN=local
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
cd "$WORK"
go mod init local/pulumi-wrapper >/dev/null 2>&1
# pkg/go.mod replaces the clipboard module with a fork; a wrapper module has to repeat that.
go mod edit -replace=github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
go get "github.com/pulumi/pulumi/pkg/v3@v$VERSION" "github.com/pulumi/pulumi/sdk/v3@v$VERSION"
go mod tidy
mkdir -p "$PREFIX/bin"
# The version stamp is mandatory: unstamped, the Automation API refuses the CLI.
CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION" \
  -o "$PREFIX/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
SDK_DIR="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
# The module cache strips the executable bit.
install -m 0755 "$SDK_DIR/python/dist/pulumi-resource-pulumi-python" "$PREFIX/bin/"
echo "built pulumi $("$PREFIX/bin/pulumi" version) in $PREFIX in $(( $(date +%s) - start )) s"
