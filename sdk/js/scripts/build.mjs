// Builds dist/sdk.esm.js (the package) and dist/sdk.js (the script tag's IIFE, what the stack serves at /sdk.js).
import { build } from 'esbuild';

const common = { bundle: true, minify: true, target: 'es2019', legalComments: 'none', logLevel: 'warning' };
await build({ ...common, entryPoints: ['src/index.ts'], format: 'esm', outfile: 'dist/sdk.esm.js' });
await build({ ...common, entryPoints: ['src/script.ts'], format: 'iife', outfile: 'dist/sdk.js' });
