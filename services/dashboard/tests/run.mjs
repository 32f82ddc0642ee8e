#!/usr/bin/env node
// The one entry point: node services/dashboard/tests/run.mjs --base-url <url> [--only name]
// Runs every *.test.mjs here with node:test, one file at a time (the machine is small and
// the server is shared), against a dashboard served at <url> with the API on the same origin.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    only: { type: 'string', multiple: true },
    email: { type: 'string' },
    password: { type: 'string' },
  },
});
const base = values['base-url'] ?? process.env.CAIRN_DASHBOARD_URL;
if (!base) {
  console.error('usage: node tests/run.mjs --base-url http://127.0.0.1:4173 [--only orders]');
  process.exit(2);
}
process.env.CAIRN_DASHBOARD_URL = base;
if (values.email) process.env.CAIRN_DEMO_EMAIL = values.email;
if (values.password) process.env.CAIRN_DEMO_PASSWORD = values.password;

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => !values.only || values.only.some((o) => f.startsWith(o)))
  .sort()
  .map((f) => join(here, f));

const health = await fetch(`${base.replace(/\/$/, '')}/v1/channels`).catch((e) => e);
if (health instanceof Error) {
  console.error(`cannot reach ${base}: ${health.message}`);
  process.exit(2);
}

let failed = 0;
const stream = run({ files, concurrency: 1, timeout: 240_000 });
stream.on('test:fail', (e) => {
  if (e.details?.type !== 'suite') failed += 1;
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  process.exitCode = failed ? 1 : 0;
});
