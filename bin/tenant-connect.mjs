#!/usr/bin/env node
// Launcher of the tenant-connect CLI. The CLI is TypeScript run by Node's type stripping, so it
// needs Node >= 22.18: the project's own Node 24 (node_modules/.bin/node, from the `node` dev
// dependency) when it is installed, else this Node if it is recent enough. Arguments, stdio,
// exit code and signals pass through.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const entry = path.join(root, 'src', 'cli', 'main.ts');

function stripsTypes(version) {
  const [major, minor] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 18);
}

function projectNode() {
  const candidates = process.platform === 'win32' ? ['node.exe', 'node.cmd', 'node'] : ['node'];
  for (const name of candidates) {
    const file = path.join(root, 'node_modules', '.bin', name);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

const node = projectNode() ?? (stripsTypes(process.versions.node) ? process.execPath : undefined);
if (!node) {
  process.stderr.write(
    `tenant-connect: needs Node >= 22.18 (this is ${process.version}) or the project's own Node in ${path.join(root, 'node_modules')} (run npm install there).\n`,
  );
  process.exit(1);
}

const child = spawn(node, [entry, ...process.argv.slice(2)], {
  stdio: 'inherit',
  shell: process.platform === 'win32' && node.endsWith('.cmd'),
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (error) => {
  process.stderr.write(`tenant-connect: cannot start ${node}: ${error.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
