'use strict';

// `npm run package`: builds this machine's addon and writes installable tarballs of the root
// package and of this machine's platform package (npm/<platform>/) into dist/.
//
// The root package holds the JavaScript only; the .node file travels in the platform package,
// which the root package lists, at its own exact version, in optionalDependencies.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });

// 1. This machine's addon, as `npm run build` makes it.
execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
const prefix = `dgram-rs.${process.platform}-${process.arch}`;
const built = fs.readdirSync(root).filter((f) => f.startsWith(prefix) && f.endsWith('.node'));
if (built.length !== 1) throw new Error(`expected one ${prefix}*.node in ${root}, found: ${built.join(', ') || 'none'}`);
const file = built[0];
const platform = file.slice('dgram-rs.'.length, -'.node'.length);

// 2. The platform package must exist and agree with the root package on name and version.
const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const dir = path.join(root, 'npm', platform);
const platformPkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
if (platformPkg.version !== rootPkg.version || platformPkg.main !== file ||
    rootPkg.optionalDependencies[platformPkg.name] !== rootPkg.version) {
  throw new Error(`npm/${platform}/package.json and package.json disagree (name, version, main)`);
}
fs.copyFileSync(path.join(root, file), path.join(dir, file));

// 3. The two tarballs. --ignore-scripts: the root's `prepare` (a build from source) is not part of
// packing; the build above was.
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);
const pack = (cwd) => JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dist], { cwd }))[0];
const rootTar = pack(root);
const platformTar = pack(dir);
const nodeFiles = rootTar.files.filter((f) => f.path.endsWith('.node'));
if (nodeFiles.length > 0) throw new Error(`the root tarball must hold no binary: ${nodeFiles.map((f) => f.path)}`);
if (platformTar.files.map((f) => f.path).sort().join() !== ['README.md', file, 'package.json'].sort().join()) {
  throw new Error(`unexpected files in the platform tarball: ${platformTar.files.map((f) => f.path)}`);
}
for (const t of [rootTar, platformTar]) {
  console.log(`dist/${t.filename}  ${t.files.length} files, ${(t.size / 1024).toFixed(0)} KiB`);
}
