#!/usr/bin/env bash
# `npm run release-check`: the release rehearsed through a real registry. Starts verdaccio (a local
# npm registry, no uplink) on 127.0.0.1 with its storage in a temporary folder, publishes the four
# platform packages and the root package as .github/workflows/release.yml does (`napi artifacts`,
# `napi prepublish -t npm`, `npm publish --ignore-scripts`, on a copy of the checkout), then
# installs dgram-rs from it in fresh projects with only node and npm on PATH and --ignore-scripts:
#
#   default           exactly 2 packages (dgram-rs, dgram-rs-linux-x64-gnu), native, "Hi Dave!"
#   --cpu=arm64       resolves dgram-rs-linux-arm64-gnu (checked in node_modules and the lockfile)
#   --libc=musl       resolves dgram-rs-linux-x64-musl (idem; neither can run here)
#   --omit=optional   the fallback: its warning, native false, "Hi Dave!"
#   unpublished       the platform package gone from the registry: the same fallback
#
# Before publishing, it checks the published file lists (`npm pack --dry-run --json`): the root
# package holds no tests, benchmarks, Rust sources or build output; each platform package holds its
# .node file, package.json, README.md and LICENSE only.
#
# Needs the four binaries of scripts/cross-build.sh (target/cross/npm/<platform>/), as the release
# does, and verdaccio (a devDependency; VERDACCIO=<path to its bin> to use another install). The
# registry is stopped and every temporary file removed on every exit path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
version="$(node -p "require('./package.json').version")"
verdaccio="${VERDACCIO:-$root/node_modules/.bin/verdaccio}"
napi="$root/node_modules/.bin/napi"
host_platform="linux-x64-gnu"
[ -x "$verdaccio" ] || { echo "release-check: no verdaccio at $verdaccio (npm ci, or VERDACCIO=...)" >&2; exit 1; }
[ -x "$napi" ] || { echo "release-check: no napi CLI at $napi (npm ci)" >&2; exit 1; }
[ "$(node -p 'process.platform + "-" + process.arch')" = linux-x64 ] || { echo "release-check: runs on linux-x64 only" >&2; exit 1; }

work="$(mktemp -d)"
registry_pid=''
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "release-check: FAIL: $*" >&2; exit 1; }

# 1. The binaries, as the release's build job uploads them.
platforms=()
for dir in npm/*/; do platforms+=("$(basename "$dir")"); done
for p in "${platforms[@]}"; do
  [ -f "target/cross/npm/$p/dgram-rs.$p.node" ] || fail "no target/cross/npm/$p/dgram-rs.$p.node: run scripts/cross-build.sh first"
done

# 2. The registry: verdaccio on a free port, storage and users in $work, no uplink (nothing is
# fetched from or published to the public registry).
port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })')"
registry="http://127.0.0.1:$port/"
cat > "$work/config.yaml" <<YAML
storage: $work/storage
auth:
  htpasswd:
    file: $work/htpasswd
    max_users: 1
uplinks: {}
packages:
  '**':
    access: \$all
    publish: \$authenticated
    unpublish: \$authenticated
web:
  enable: false
log: { type: stdout, format: pretty, level: warn }
YAML
"$verdaccio" --config "$work/config.yaml" --listen "127.0.0.1:$port" > "$work/verdaccio.log" 2>&1 &
registry_pid=$!
node -e '
  const url = process.argv[1]
  const deadline = Date.now() + 30000
  const poll = () => fetch(url + "-/ping").then((r) => { if (!r.ok) throw new Error(r.status) })
    .catch((e) => { if (Date.now() > deadline) { console.error("verdaccio did not answer:", e.message); process.exit(1) } return new Promise((resolve) => setTimeout(resolve, 200)).then(poll) })
  poll()' "$registry" || { cat "$work/verdaccio.log" >&2; fail "registry did not start"; }
# A user for publishing; its token goes into an npmrc of our own (the user's ~/.npmrc is not read).
token="$(node -e '
  const url = process.argv[1] + "-/user/org.couchdb.user:rehearsal"
  fetch(url, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "rehearsal", password: "rehearsal-" + process.pid }) })
    .then(async (r) => { const b = await r.json(); if (!b.token) throw new Error(JSON.stringify(b)); console.log(b.token) })' "$registry")"
mkdir -p "$work/home"
printf 'registry=%s\n//127.0.0.1:%s/:_authToken=%s\n' "$registry" "$port" "$token" > "$work/npmrc"
# Every npm below runs with this environment: our npmrc, cache and registry, whatever npm_config_*
# `npm run` passed down.
npm_env=(env -i "HOME=$work/home" "NPM_CONFIG_USERCONFIG=$work/npmrc" "NPM_CONFIG_CACHE=$work/cache"
  "NPM_CONFIG_REGISTRY=$registry" "NPM_CONFIG_UPDATE_NOTIFIER=false" "NPM_CONFIG_FUND=false" "NPM_CONFIG_AUDIT=false")

# 3. The release's checkout: the tracked and untracked, not ignored files, copied.
stage="$work/stage"
mkdir "$stage"
git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - | tar -C "$stage" -xf -
# The release's bundle step (generated/, not in git).
(cd "$stage" && node scripts/bundle.js) || fail "node scripts/bundle.js"
# The release's publish job: the artifacts laid out by napi into npm/<platform>/.
mkdir "$stage/artifacts"
for p in "${platforms[@]}"; do cp "target/cross/npm/$p/dgram-rs.$p.node" "$stage/artifacts/"; done
(cd "$stage" && "${npm_env[@]}" "PATH=$PATH" "$napi" artifacts --output-dir artifacts > "$work/artifacts.log" 2>&1) ||
  { cat "$work/artifacts.log" >&2; fail "napi artifacts"; }

# 4. The published file lists.
pack_files() { (cd "$1" && "${npm_env[@]}" "PATH=$PATH" npm pack --dry-run --json --ignore-scripts 2>/dev/null) |
  node -e 'let s = ""; process.stdin.on("data", (d) => { s += d }).on("end", () => console.log(JSON.parse(s)[0].files.map((f) => f.path).sort().join("\n")))'; }
root_files="$(pack_files "$stage")"
bad="$(grep -E '^(__test__|bench|stress|src|target|scripts|examples|npm|dist|docs|artifacts|\.ci|\.github)/|\.(rs|node|tgz)$|^Cargo\.|^build\.rs$|^clippy\.toml$' <<<"$root_files" || true)"
[ -z "$bad" ] || fail "the root package would publish: $(tr '\n' ' ' <<<"$bad")"
for f in package.json README.md LICENSE index.js index.d.ts binding.d.ts generated/dgram-rs.js lib/native.js lib/fallback.js lib/unix-dgram.js; do
  grep -qx "$f" <<<"$root_files" || fail "the root package lacks $f"
done
for p in "${platforms[@]}"; do
  cmp -s LICENSE "npm/$p/LICENSE" || fail "npm/$p/LICENSE differs from LICENSE"
  got="$(pack_files "$stage/npm/$p" | tr '\n' ' ')"
  want="$(printf '%s\n' LICENSE README.md "dgram-rs.$p.node" package.json | sort | tr '\n' ' ')"
  [ "$got" = "$want" ] || fail "dgram-rs-$p would publish: $got (expected: $want)"
done

# 5. Publish as the release does: napi prepublish writes the root's optionalDependencies and
# publishes each npm/<platform>/ package (no GitHub release: --no-gh-release, and no
# GITHUB_REPOSITORY in this environment); then the root package, without its build script.
(cd "$stage" && "${npm_env[@]}" "PATH=$PATH" "$napi" prepublish -t npm --no-gh-release > "$work/prepublish.log" 2>&1) ||
  { cat "$work/prepublish.log" >&2; fail "napi prepublish"; }
(cd "$stage" && "${npm_env[@]}" "PATH=$PATH" npm publish --ignore-scripts > "$work/publish.log" 2>&1) ||
  { cat "$work/publish.log" >&2; fail "npm publish (root)"; }
published="$("${npm_env[@]}" "PATH=$PATH" npm view dgram-rs@"$version" optionalDependencies --json)"
node -e '
  const [json, version, ...platforms] = process.argv.slice(1)
  const got = JSON.parse(json)
  const want = Object.fromEntries(platforms.map((p) => ["dgram-rs-" + p, version]))
  const sorted = (o) => JSON.stringify(Object.entries(o).sort())
  if (sorted(got) !== sorted(want)) throw new Error("optionalDependencies: " + json)' "$published" "$version" "${platforms[@]}" ||
  fail "the published root package's optionalDependencies"
for p in "${platforms[@]}"; do
  "${npm_env[@]}" "PATH=$PATH" npm view "dgram-rs-$p@$version" version > /dev/null || fail "dgram-rs-$p@$version is not in the registry"
done

# 6. The consumers: a PATH with node and npm only (no cargo, no compiler, no sh).
mkdir "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$work/bin/npm"
for tool in cargo rustc cc gcc c++ make sh; do
  if PATH="$work/bin" command -v "$tool" > /dev/null; then fail "$tool is on the consumer's PATH"; fi
done
# consumer <name> <npm install flags...>: a fresh project that runs `npm install dgram-rs <flags>`.
consumer() {
  local name="$1"; shift
  local dir="$work/$name"
  mkdir "$dir"
  echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > "$dir/package.json"
  cp examples/server.js examples/client.js "$dir/"
  (cd "$dir" && "${npm_env[@]}" "PATH=$work/bin" npm install dgram-rs --ignore-scripts "$@" > "$work/$name.log" 2>&1) ||
    { cat "$work/$name.log" >&2; fail "$name: npm install dgram-rs $*"; }
}
# installed <name>: the packages in node_modules, one line each.
installed() { ls "$work/$1/node_modules" | grep -v '^\.' | sort | tr '\n' ' '; }
# locked <name> <package>: the lockfile's entry for the package, "<version> <resolved>".
locked() { node -e '
  const lock = require(process.argv[1] + "/package-lock.json").packages["node_modules/" + process.argv[2]]
  console.log(lock ? `${lock.version} ${lock.resolved}` : "none")' "$work/$1" "$2"; }
# recipe <name> <native>: the recipe in the project; checks the client's line, native, and stderr.
recipe() {
  (cd "$work/$1" && PATH="$work/bin" node "$root/scripts/run-recipe.js" > "$work/$1.json" 2> "$work/$1.recipe.log") ||
    { cat "$work/$1.recipe.log" >&2; fail "$1: the recipe did not run"; }
  node -e '
    const [file, native, platform] = process.argv.slice(1)
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"))
    const fail = (m) => { console.error(m + "\n" + JSON.stringify(r)); process.exit(1) }
    if (r.stdout !== "Hi Dave!\n") fail(`the client printed ${JSON.stringify(r.stdout)}, not "Hi Dave!"`)
    if (String(r.native) !== native) fail(`native === ${r.native}, expected ${native}`)
    const warning = `DgramRsWarning: no native addon for linux-x64: the package dgram-rs-${platform} is not installed`
    for (const [who, text] of [["client", r.clientStderr], ["server", r.serverStderr]]) {
      if (native === "true" && text !== "") fail(`${who} stderr: ${text}`)
      if (native === "false" && text.split(warning).length !== 2) fail(`${who}: expected the fallback warning once, got: ${text}`)
    }' "$work/$1.json" "$2" "$host_platform" || fail "$1: the recipe"
}
lock_url="${registry}dgram-rs-"

consumer default
[ "$(installed default)" = "dgram-rs dgram-rs-$host_platform " ] || fail "default: installed $(installed default)"
grep -q '^added 2 packages' "$work/default.log" || fail "default: $(grep '^added' "$work/default.log")"
recipe default true
for p in "${platforms[@]}"; do
  # The lockfile lists every platform package (it is the same on every platform), each from here.
  case "$(locked default "dgram-rs-$p")" in "$version $lock_url$p/-/"*) ;; *) fail "default: lockfile entry of dgram-rs-$p: $(locked default "dgram-rs-$p")" ;; esac
done

consumer arm64 --cpu=arm64
[ "$(installed arm64)" = "dgram-rs dgram-rs-linux-arm64-gnu " ] || fail "--cpu=arm64: installed $(installed arm64)"
[ "$(node -p "require('$work/arm64/node_modules/dgram-rs-linux-arm64-gnu/package.json').main")" = dgram-rs.linux-arm64-gnu.node ] &&
  [ -f "$work/arm64/node_modules/dgram-rs-linux-arm64-gnu/dgram-rs.linux-arm64-gnu.node" ] || fail "--cpu=arm64: no binary"
case "$(locked arm64 dgram-rs-linux-arm64-gnu)" in "$version $lock_url"*) ;; *) fail "--cpu=arm64: lockfile" ;; esac

consumer musl --libc=musl
[ "$(installed musl)" = "dgram-rs dgram-rs-linux-x64-musl " ] || fail "--libc=musl: installed $(installed musl)"
[ -f "$work/musl/node_modules/dgram-rs-linux-x64-musl/dgram-rs.linux-x64-musl.node" ] || fail "--libc=musl: no binary"
case "$(locked musl dgram-rs-linux-x64-musl)" in "$version $lock_url"*) ;; *) fail "--libc=musl: lockfile" ;; esac

consumer omit-optional --omit=optional
[ "$(installed omit-optional)" = "dgram-rs " ] || fail "--omit=optional: installed $(installed omit-optional)"
recipe omit-optional false

# The platform package gone from the registry (a mirror that lacks it, a failed publish): npm
# skips the optional dependency it cannot fetch, and the fallback runs.
"${npm_env[@]}" "PATH=$PATH" npm unpublish "dgram-rs-$host_platform@$version" --force > "$work/unpublish.log" 2>&1 ||
  { cat "$work/unpublish.log" >&2; fail "npm unpublish"; }
consumer unpublished
[ "$(installed unpublished)" = "dgram-rs " ] || fail "unpublished: installed $(installed unpublished)"
recipe unpublished false

echo "release-check: OK: verdaccio $("$verdaccio" --version) published ${#platforms[@]} platform packages and dgram-rs@$version;" \
  "npm install dgram-rs: 2 packages, native, Hi Dave!; --cpu=arm64: linux-arm64-gnu; --libc=musl: linux-x64-musl;" \
  "--omit=optional and unpublished: fallback warning, Hi Dave!; file lists checked"
