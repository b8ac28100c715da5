// Runs the dashboard's unit tests: bundles test/*.test.ts with esbuild (Vite's own, no extra
// dependency) for node, then `node --test` on the output. Pure logic only; the browser tests
// live in e2e/browser/.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-web-test-'));
const entries = fs.readdirSync(here).filter((f) => f.endsWith('.test.ts')).map((f) => path.join(here, f));
await build({ entryPoints: entries, bundle: true, platform: 'node', format: 'esm', outdir: out, outExtension: { '.js': '.mjs' }, logLevel: 'warning', jsx: 'automatic', jsxImportSource: 'preact' });
const files = fs.readdirSync(out).map((f) => path.join(out, f));
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
fs.rmSync(out, { recursive: true, force: true });
process.exit(r.status ?? 1);
