#!/usr/bin/env bash
# The consumer's view of `npm run package`'s tarballs (dist/), in an empty project, with no cargo
# and no C compiler on PATH, no install scripts and no network (--offline: npm may only use what
# it is given). Case 1: the root tarball and this machine's platform tarball: at most 2 packages,
# native === true, the recipe prints "Hi Dave!", the modules come from the bundle, and in the next
# process from the code cache the recipe's processes left (again after the package's
# dgram-rs-code-cache command). Case 2: the root tarball alone: the
# fallback, native === false, its warning, and the recipe still prints "Hi Dave!".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(node -p "require('$root/package.json').version")"
root_tgz="$root/dist/dgram-rs-$version.tgz"
platform_tgz="$(echo "$root"/dist/dgram-rs-linux-*-"$version".tgz)"
[ -f "$root_tgz" ] && [ -f "$platform_tgz" ] || { echo "run 'npm run package' first" >&2; exit 1; }
platform="$(basename "$platform_tgz" "-$version.tgz")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A PATH with node and npm only.
mkdir "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$work/bin/npm"
for tool in cargo rustc cc gcc c++ make sh; do
  if PATH="$work/bin" command -v "$tool" >/dev/null; then echo "FAIL: $tool is on the consumer's PATH" >&2; exit 1; fi
done

# consumer <name> <expected native> <tarballs...>
consumer() {
  local name="$1" native="$2"; shift 2
  local dir="$work/$name"
  mkdir "$dir"
  echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > "$dir/package.json"
  cp "$root/examples/server.js" "$root/examples/client.js" "$dir/"
  local start end
  start="$(date +%s%N)"
  (cd "$dir" && PATH="$work/bin" npm install --offline --ignore-scripts --no-audit --no-fund --loglevel http "$@" > "$work/$name.log" 2>&1) ||
    { cat "$work/$name.log"; exit 1; }
  end="$(date +%s%N)"
  local added
  added="$(sed -n 's/^added \([0-9]*\) packages\{0,1\}.*/\1/p' "$work/$name.log")"
  echo "$name: npm install of $(( $# )) tarball(s): added $added packages in $(( (end - start) / 1000000 )) ms"
  [ "$added" -le 2 ] && [ "$added" -eq "$#" ] || { echo "FAIL: expected $# packages" >&2; cat "$work/$name.log"; exit 1; }
  if grep -q 'http fetch' "$work/$name.log"; then echo "FAIL: npm fetched from the network" >&2; exit 1; fi
  # No installed package has an install-time script (and --ignore-scripts ran none).
  (cd "$dir" && PATH="$work/bin" node -e '
    const fs = require("fs")
    for (const d of fs.readdirSync("node_modules").filter((d) => !d.startsWith("."))) {
      const s = JSON.parse(fs.readFileSync(`node_modules/${d}/package.json`)).scripts || {}
      for (const k of ["preinstall", "install", "postinstall"]) if (s[k]) throw new Error(`${d} has an ${k} script`)
    }')
  # The recipe: server.js and client.js as the README runs them; the client prints one line.
  (cd "$dir" && PATH="$work/bin" node -e '
    const { spawn } = require("child_process")
    const server = spawn(process.execPath, ["server.js"], { stdio: ["ignore", "ignore", "pipe"] })
    let serr = ""
    server.stderr.on("data", (d) => { serr += d })
    setTimeout(() => {
      const client = spawn(process.execPath, ["client.js", "Dave"])
      let out = ""
      let err = ""
      client.stdout.on("data", (d) => { out += d; if (out.includes("\n")) done() })
      client.stderr.on("data", (d) => { err += d })
      const timer = setTimeout(done, 5000)
      function done () {
        clearTimeout(timer)
        client.kill(); server.kill()
        const dgram = require("dgram-rs")
        const loaded = dgram[Symbol.for("dgram-rs.loaded")]
        const bundle = loaded === undefined ? "fallback" : loaded === null ? "lib" : `bundle, code cache: ${loaded.cache}`
        console.log(JSON.stringify({ stdout: out, native: dgram.native, bundle, clientStderr: err, serverStderr: serr }))
      }
    }, 300)' > "$work/$name.json")
  node -e '
    const [file, name, native, platform] = process.argv.slice(1)
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"))
    console.log(`${name}: client printed ${JSON.stringify(r.stdout)}, native === ${r.native}`)
    if (r.stdout !== "Hi Dave!\n") throw new Error("the recipe did not print Hi Dave!")
    if (String(r.native) !== native) throw new Error(`expected native === ${native}`)
    // The native package loads the bundle. An installed package has no code cache (no install
    // script): the first processes of the recipe compile it, and one of them (or this process)
    // leaves one for the next.
    const bundles = native === "true" ? ["bundle, code cache: none", "bundle, code cache: used"] : ["fallback"]
    if (!bundles.includes(r.bundle)) throw new Error(`expected ${bundles.join(" or ")}, got ${r.bundle}`)
    console.log(`${name}: loaded ${r.bundle}`)
    const warning = `DgramRsWarning: no native addon for ${process.platform}-${process.arch}: the package ${platform} is not installed`
    for (const [who, text] of [["client", r.clientStderr], ["server", r.serverStderr]]) {
      if (native === "true" && text !== "") throw new Error(`${who} stderr: ${text}`)
      if (native === "false") {
        if (text.split(warning).length !== 2) throw new Error(`${who}: expected the warning once, got: ${text}`)
        console.log(`${name}: ${who} warned: ${text.split("\n")[0]}`)
      }
    }' "$work/$name.json" "$name" "$native" "$platform"
  if [ "$native" = true ]; then
    local cache
    cache="$(cd "$dir" && PATH="$work/bin" node -p 'require("dgram-rs")[Symbol.for("dgram-rs.loaded")].cache')"
    echo "$name: after the recipe, the code cache is $cache"
    [ "$cache" = used ] || { echo "FAIL: expected the code cache the recipe left used" >&2; exit 1; }
    # The optional step (a Dockerfile's, after npm ci, where the image's folders are read-only at
    # run time): the code cache made again, then used.
    rm -r "$dir/node_modules/dgram-rs/generated/cache"
    (cd "$dir" && PATH="$work/bin" ./node_modules/.bin/dgram-rs-code-cache) || { echo "FAIL: dgram-rs-code-cache" >&2; exit 1; }
    cache="$(cd "$dir" && PATH="$work/bin" DGRAM_RS_CODE_CACHE=0 node -p 'require("dgram-rs")[Symbol.for("dgram-rs.loaded")].cache')"
    echo "$name: after dgram-rs-code-cache, the code cache is $cache"
    [ "$cache" = used ] || { echo "FAIL: expected the code cache used" >&2; exit 1; }
  fi
}

consumer with-binary true "$root_tgz" "$platform_tgz"
consumer root-only false "$root_tgz"
echo "consumer check: OK"
