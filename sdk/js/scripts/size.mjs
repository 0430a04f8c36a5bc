// Fails when a build exceeds the budget: 5 KB gzipped each (SIZE_BUDGET_KB overrides).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const budget = Number(process.env.SIZE_BUDGET_KB ?? 5) * 1024;
let over = false;
for (const file of ['dist/sdk.js', 'dist/sdk.esm.js']) {
  let body;
  try {
    body = readFileSync(file);
  } catch {
    console.error(`size: ${file} not found; run \`npm run build\` first.`);
    process.exit(1);
  }
  const gz = gzipSync(body, { level: 9 }).length;
  console.log(`${file.padEnd(18)} ${body.length} bytes, gzip ${gz} bytes of ${budget}`);
  over ||= gz > budget;
}
if (over) {
  console.error('size: over budget.');
  process.exit(1);
}
console.log('size: within budget.');
