// Times one scan: node ../../node_modules/.pnpm/vite-node@*/node_modules/vite-node/vite-node.mjs \
//   --config vitest.config.mjs scripts/time-scan.ts [slices] [rows] [cols]
import { generateScan } from '../src/generate.js';

const [slices = 300, rows = 512, cols = 512] = process.argv.slice(2).map(Number);
const t0 = performance.now();
const scan = generateScan({ slices, rows, cols, category: 3 }, 7);
const ms = performance.now() - t0;
const mem = process.memoryUsage();
console.log(
  `${slices}x${rows}x${cols}: ${(ms / 1000).toFixed(1)} s, involvement ${scan.involvement.toFixed(4)} (target ${scan.targetInvolvement.toFixed(4)}), ` +
    `rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, array buffers ${(mem.arrayBuffers / 2 ** 20).toFixed(0)} MiB`,
);
