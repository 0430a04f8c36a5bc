// Fails when the built JavaScript exceeds the budget (gzipped, all chunks together).
// Usage: npm run size  (after npm run build). Budget override: SIZE_BUDGET_KB=150.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const budgetKb = Number(process.env.SIZE_BUDGET_KB ?? 150);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

let files;
try {
  files = walk(dist);
} catch {
  console.error('size: dist/ not found; run `npm run build` first.');
  process.exit(1);
}
const kb = (n) => (n / 1024).toFixed(1) + ' KB';
let jsGz = 0;
let cssGz = 0;
for (const file of files.sort()) {
  const body = readFileSync(file);
  const gz = gzipSync(body, { level: 9 }).length;
  if (file.endsWith('.js') || file.endsWith('.mjs')) jsGz += gz;
  else if (file.endsWith('.css')) cssGz += gz;
  else continue;
  console.log(`${relative(root, file).padEnd(44)} ${kb(body.length).padStart(10)}  gzip ${kb(gz).padStart(9)}`);
}
console.log(`JavaScript total (gzip): ${kb(jsGz)} of ${budgetKb} KB budget; CSS (gzip): ${kb(cssGz)}`);
if (jsGz === 0) {
  console.error('size: no JavaScript found in dist/.');
  process.exit(1);
}
if (jsGz > budgetKb * 1024) {
  console.error(`size: over budget by ${kb(jsGz - budgetKb * 1024)}.`);
  process.exit(1);
}
console.log('size: within budget.');
