'use strict'

// `npm run package`: builds this machine's addon and writes installable tarballs of the root
// package and of this machine's platform package (npm/<platform>/) into dist/.
//
// The root package holds the JavaScript only; the .node file travels in the platform package.
// The packed root package lists every npm/<platform>/ package, at its own exact version, in
// optionalDependencies: written here into a staged copy, as `napi prepublish` writes them into
// package.json before a release. (The repository's package.json does not list them: `npm ci` in a
// clone would then need them published, at this very version, before it could run.)

const { execFileSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist')
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts })

// 1. This machine's addon, as `npm run build` makes it.
execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
const prefix = `dgram-rs.${process.platform}-${process.arch}`
const built = fs.readdirSync(root).filter((f) => f.startsWith(prefix) && f.endsWith('.node'))
if (built.length !== 1) throw new Error(`expected one ${prefix}*.node in ${root}, found: ${built.join(', ') || 'none'}`)
const file = built[0]
const platform = file.slice('dgram-rs.'.length, -'.node'.length)

// 2. The platform packages must agree with the root package on version; this machine's gets the
// addon.
const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const optionalDependencies = {}
for (const name of fs.readdirSync(path.join(root, 'npm')).sort()) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'npm', name, 'package.json'), 'utf8'))
  if (pkg.version !== rootPkg.version || pkg.name !== `dgram-rs-${name}` || pkg.main !== `dgram-rs.${name}.node`) { throw new Error(`npm/${name}/package.json disagrees with package.json (name, version, main)`) }
  optionalDependencies[pkg.name] = pkg.version
}
if (!optionalDependencies[`dgram-rs-${platform}`]) throw new Error(`no npm/${platform}/ package`)
const dir = path.join(root, 'npm', platform)
fs.copyFileSync(path.join(root, file), path.join(dir, file))

// 3. The two tarballs. --ignore-scripts: the root's `prepare` (a build from source) is not part of
// packing; the build above was.
fs.rmSync(dist, { recursive: true, force: true })
const stage = path.join(dist, 'stage')
fs.mkdirSync(stage, { recursive: true })
for (const f of [...rootPkg.files, 'README.md', 'LICENSE']) fs.cpSync(path.join(root, f), path.join(stage, f), { recursive: true })
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ ...rootPkg, optionalDependencies }, null, 2) + '\n')
const pack = (cwd) => JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dist], { cwd }))[0]
const rootTar = pack(stage)
fs.rmSync(stage, { recursive: true })
const platformTar = pack(dir)
const nodeFiles = rootTar.files.filter((f) => f.path.endsWith('.node'))
if (nodeFiles.length > 0) throw new Error(`the root tarball must hold no binary: ${nodeFiles.map((f) => f.path)}`)
if (platformTar.files.map((f) => f.path).sort().join() !== ['LICENSE', 'README.md', file, 'package.json'].sort().join()) {
  throw new Error(`unexpected files in the platform tarball: ${platformTar.files.map((f) => f.path)}`)
}
for (const t of [rootTar, platformTar]) {
  console.log(`dist/${t.filename}  ${t.files.length} files, ${(t.size / 1024).toFixed(0)} KiB`)
}
