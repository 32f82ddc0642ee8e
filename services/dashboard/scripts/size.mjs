#!/usr/bin/env node
// Prints the gzip size of what dist/index.html loads for the first screen: its scripts,
// stylesheets and module preloads, plus every chunk those scripts import statically.
// Lazily imported screens are not counted. Exits 1 when over the budget.
// Usage: node scripts/size.mjs [--budget 250] [--json]
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '..', 'dist');
const args = process.argv.slice(2);
const budgetKb = Number(args[args.indexOf('--budget') + 1]) || 250;
const asJson = args.includes('--json');

/** Files the first screen loads, relative to dist. */
export function firstScreenFiles(distDir = dist) {
  const html = readFileSync(join(distDir, 'index.html'), 'utf8');
  const files = new Set();
  const queue = [];
  const add = (url) => {
    const rel = url.replace(/^\//, '');
    if (!files.has(rel) && existsSync(join(distDir, rel))) {
      files.add(rel);
      if (rel.endsWith('.js')) queue.push(rel);
    }
  };
  for (const m of html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)) add(m[1]);
  for (const m of html.matchAll(/<link[^>]*rel="(?:stylesheet|modulepreload)"[^>]*href="([^"]+)"/g)) add(m[1]);
  for (const m of html.matchAll(/<link[^>]*href="([^"]+)"[^>]*rel="(?:stylesheet|modulepreload)"/g)) add(m[1]);
  // Static imports of the entry chunks load before the first paint too.
  while (queue.length) {
    const file = queue.shift();
    const src = readFileSync(join(distDir, file), 'utf8');
    const base = dirname(file);
    for (const m of src.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w*{}\s,$]+from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
      add(join(base, m[1]));
    }
  }
  return [...files];
}

export function firstScreenSize(distDir = dist) {
  const rows = firstScreenFiles(distDir).map((f) => {
    const buf = readFileSync(join(distDir, f));
    return { file: f, bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
  });
  const total = rows.reduce((n, r) => n + r.gzip, 0);
  return { rows, total };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!existsSync(join(dist, 'index.html'))) {
    console.error('dist/index.html is missing: run npm run build first');
    process.exit(2);
  }
  const { rows, total } = firstScreenSize();
  if (asJson) {
    console.log(JSON.stringify({ files: rows, gzip_bytes: total, budget_bytes: budgetKb * 1024 }));
  } else {
    for (const r of rows)
      console.log(`${(r.gzip / 1024).toFixed(1).padStart(8)} KB gz  ${(r.bytes / 1024).toFixed(1).padStart(8)} KB  ${r.file}`);
    console.log(`${(total / 1024).toFixed(1).padStart(8)} KB gz  first screen (budget ${budgetKb} KB)`);
  }
  if (total > budgetKb * 1024) process.exit(1);
}
