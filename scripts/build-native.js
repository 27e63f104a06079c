#!/usr/bin/env node
// `npm ci` / `npm install` runs this (package.json "install"): builds the native oneDNN addon
// (binding.gyp → build/Release/eas_native.node) when a C++ compiler and oneDNN's headers (libdnnl-dev) are present.
// It never fails the install: when the build is skipped or fails it says why, writes the reason to
// build/native-skipped.txt (eas reports it when it falls back to wasm) and exits 0.
// EAS_NATIVE_STRICT=1 makes a failed build fail the install (for CI that must have the native engine).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build');
const note = path.join(buildDir, 'native-skipped.txt');

function skip(reason) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(note, reason + '\n');
  console.warn(`[eas] native engine not built: ${reason}. eas will use the wasm backend.`);
  console.warn('[eas] to get it on Debian/Ubuntu: apt-get install libdnnl-dev g++, then npm ci (or npm run build:native)');
  process.exit(process.env.EAS_NATIVE_STRICT === '1' ? 1 : 0);
}

if (process.env.EAS_SKIP_NATIVE === '1') skip('EAS_SKIP_NATIVE=1');
const cxx = process.env.CXX || 'g++';
if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) skip(`no C++ compiler (${cxx})`);
const header = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find((p) => fs.existsSync(p));
if (!header) skip('oneDNN headers not found (/usr/include/oneapi/dnnl/dnnl.hpp: package libdnnl-dev)');

// npm runs lifecycle scripts with npm_config_node_gyp set to its bundled node-gyp; otherwise look next to npm.
const candidates = [process.env.npm_config_node_gyp, path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
const gyp = candidates.find((p) => p && fs.existsSync(p));
if (!gyp) skip('node-gyp not found (it comes with npm)');

// Node's headers: from `npm config nodedir`, else the distribution's (/usr/include/node), so no download is needed.
const args = [gyp, 'rebuild'];
const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) skip(`node-gyp rebuild failed (exit ${r.status}); see the compiler output above`);
try {
  fs.rmSync(note, { force: true });
} catch {
  /* nothing to remove */
}
console.log('[eas] native engine built: build/Release/eas_native.node');
