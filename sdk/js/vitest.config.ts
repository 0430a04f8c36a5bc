import { defineConfig } from 'vitest/config';

// Unit tests only: e2e/ runs under node:test against the real stack (`npm run e2e`).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'] },
});
