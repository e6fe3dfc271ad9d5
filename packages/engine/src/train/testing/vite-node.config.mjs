// Vite config for child processes run through vite-node (the kill -9 test): the workspace
// aliases of vitest.shared.mjs, plus @tensorflow/tfjs pinned to its Node (CommonJS) entry so
// vite-node loads it natively instead of transforming tfjs's ESM build file by file (~10 s).
import { createRequire } from 'node:module';
import { alias } from '../../../../../vitest.shared.mjs';

const require = createRequire(import.meta.url);

export default {
  logLevel: 'error',
  resolve: {
    alias: [
      { find: /^@tensorflow\/tfjs$/, replacement: require.resolve('@tensorflow/tfjs') },
      ...Object.entries(alias).map(([find, replacement]) => ({ find, replacement })),
    ],
  },
};
