// Shared vitest settings: workspace packages resolve to their TypeScript sources, so tests
// run without a build and always see the code beside them.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
export const alias = {
  // Subpaths first: an alias also matches `@covsev/io/...`.
  '@covsev/io/core': `${root}packages/io/src/core.ts`,
  '@covsev/io': `${root}packages/io/src/index.ts`,
  '@covsev/eval': `${root}packages/eval/src/index.ts`,
  '@covsev/phantom': `${root}packages/phantom/src/index.ts`,
  '@covsev/engine/worker': `${root}packages/engine/src/parallel/worker.ts`,
  '@covsev/engine': `${root}packages/engine/src/index.ts`,
  '@covsev/segment': `${root}packages/segment/src/index.ts`,
  '@covsev/cmc': `${root}packages/cmc/src/index.ts`,
  '@covsev/cli': `${root}packages/cli/src/index.ts`,
  '@covsev/events': `${root}packages/events/src/index.ts`,
  '@covsev/pipeline': `${root}packages/pipeline/src/index.ts`,
  '@covsev/ensemble': `${root}packages/ensemble/src/index.ts`,
  '@covsev/report': `${root}packages/report/src/index.ts`,
};
export default {
  resolve: { alias },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 120000,
    hookTimeout: 120000,
    // Temporary files under one folder per run, removed at its end (vitest.tmpdir.mjs).
    globalSetup: [`${root}vitest.tmpdir.mjs`],
  },
};
