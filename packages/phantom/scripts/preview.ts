// Writes preview montages of two phantom cases, to look at them:
//   node ../../node_modules/.pnpm/vite-node@*/node_modules/vite-node/vite-node.mjs --config vitest.config.mjs scripts/preview.ts
// writes /tmp/phantom-montage.png (a moderate case) and /tmp/phantom-severe.png (+ overlays).
import { generateScan } from '../src/generate.js';
import { writePreviewPng } from '../src/preview.js';

const size = Number(process.env.PHANTOM_PREVIEW_SIZE ?? 256);
const slices = Number(process.env.PHANTOM_PREVIEW_SLICES ?? 64);
const seed = Number(process.env.PHANTOM_PREVIEW_SEED ?? 1);

const moderate = generateScan({ slices, rows: size, cols: size, category: 2 }, seed);
await writePreviewPng('/tmp/phantom-montage.png', moderate.ct);
await writePreviewPng('/tmp/phantom-montage-overlay.png', moderate.ct, { overlay: moderate.infectionMask });
const severe = generateScan({ slices, rows: size, cols: size, category: 3 }, seed + 1);
await writePreviewPng('/tmp/phantom-severe.png', severe.ct);
await writePreviewPng('/tmp/phantom-severe-overlay.png', severe.ct, { overlay: severe.infectionMask });
if (process.env.PHANTOM_PREVIEW_BIG) {
  const big = generateScan({ slices: 40, rows: 512, cols: 512, category: 3 }, seed + 2);
  await writePreviewPng('/tmp/phantom-slice.png', big.ct, { grid: 1, slices: [24] });
}
console.log(
  `moderate ${moderate.involvement.toFixed(3)} (target ${moderate.targetInvolvement.toFixed(3)}) L/R ${moderate.lungVoxels.left}/${moderate.lungVoxels.right}`,
);
console.log(`severe ${severe.involvement.toFixed(3)} (target ${severe.targetInvolvement.toFixed(3)})`);
