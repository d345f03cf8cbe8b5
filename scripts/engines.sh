#!/usr/bin/env bash
# Builds the real engines our users run (Go programs) from their Go modules into
# .engines/bin/: the Pulumi CLI, OpenTofu and KFP's own API server, plus the small
# launchers Pulumi needs to run Python programs and dynamic providers from .venv.
#
# Idempotent: each engine is built once per pin into a cache outside the checkout
# (${DH_KFP_ENGINE_CACHE:-$XDG_CACHE_HOME/dh-kfp-pulumi/engines}), keyed by the pin and
# a hash of its wrapper module, so a fresh clone on the same machine (as CI makes)
# reuses it. All pins live in the ENGINES table below and in the wrapper go.mod files
# under engines/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v go >/dev/null 2>&1; then
  echo "engines.sh: 'go' is not on PATH; the engines (pulumi, tofu, kfp-apiserver) are built" >&2
  echo "from Go modules and need Go 1.26 or newer (https://go.dev/doc/install)." >&2
  exit 1
fi

CACHE=${DH_KFP_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dh-kfp-pulumi/engines}
BIN=$ROOT/.engines/bin
mkdir -p "$CACHE" "$BIN"
export GOFLAGS=${GOFLAGS:--buildvcs=false}
export CGO_ENABLED=${CGO_ENABLED:-1}

# name | wrapper module dir | main package | version (the pin; also in the go.mod) | ldflags
ENGINES=(
  "pulumi|engines/pulumi|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi|v3.274.0|-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.274.0"
  "tofu|engines/tofu|github.com/opentofu/opentofu/cmd/tofu|v1.12.6|-X github.com/opentofu/opentofu/version.dev=no"
  "pulumi-resource-kubernetes|engines/kubernetes|./gen/pulumi-resource-kubernetes|v4.0.0-20260115033456-f47bc2d6f199|-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=4.0.0-20260115033456-f47bc2d6f199"
)
# Only some engines may be wanted (tests of one area): DH_KFP_ENGINES="pulumi tofu".
WANTED=${DH_KFP_ENGINES:-}

build_one() {
  local name=$1 dir=$2 pkg=$3 version=$4 ldflags=$5
  local key
  key=$(cd "$dir" && cat go.mod $(ls go.sum *.go prepare.sh 2>/dev/null) | sha256sum | cut -c1-12)
  local out=$CACHE/$name-$version-$key
  if [ ! -x "$out/$name" ]; then
    echo "engines: building $name $version (first time on this machine; cached in $out)"
    local start=$SECONDS tmp
    tmp=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
    # A wrapper may generate what its package embeds first (engines/kubernetes/prepare.sh).
    if [ -x "$dir/prepare.sh" ]; then (cd "$dir" && ENGINE_VERSION=${version#v} ./prepare.sh); fi
    (cd "$dir" && go mod download && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg")
    rm -rf "$out" && mv "$tmp" "$out"
    echo "engines: built $name $version in $((SECONDS - start)) s"
  else
    echo "engines: $name $version (cached)"
  fi
  # A hard link (a copy across file systems), not a symlink: the Pulumi CLI looks for its
  # bundled plugins beside its own resolved path, where the launchers below are installed.
  rm -f "$BIN/$name"
  ln "$out/$name" "$BIN/$name" 2>/dev/null || cp "$out/$name" "$BIN/$name"
}

for row in "${ENGINES[@]}"; do
  IFS='|' read -r name dir pkg version ldflags <<<"$row"
  if [ -n "$WANTED" ] && [[ " $WANTED " != *" $name "* ]]; then continue; fi
  build_one "$name" "$dir" "$pkg" "$version" "$ldflags"
done

# Pulumi's Python launchers (engines/pulumi/README.md says why they are ours): the
# language host and the dynamic-provider plugin, run with this checkout's .venv, and
# Pulumi's own pulumi-language-python-exec taken from the sdk/v3 module of the same release.
if [ -z "$WANTED" ] || [[ " $WANTED " == *" pulumi "* ]]; then
  VENV=${DH_KFP_VENV:-$ROOT/.venv}
  if [ ! -x "$VENV/bin/python" ]; then
    echo "engines.sh: no virtualenv at $VENV (create it first: python3 -m venv .venv && .venv/bin/pip install -e '.[test]')" >&2
    exit 1
  fi
  SDK_DIR=$(cd engines/pulumi && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
  sed "1s|.*|#!$VENV/bin/python|" engines/pulumi/pulumi-language-python >"$BIN/pulumi-language-python"
  sed "s|@VENV@|$VENV|" engines/pulumi/pulumi-resource-pulumi-python >"$BIN/pulumi-resource-pulumi-python"
  chmod 0755 "$BIN/pulumi-language-python" "$BIN/pulumi-resource-pulumi-python"
fi
echo "engines: ready in $BIN"
