// node vite-node --config vitest.config.mjs scripts/slice.ts SEED CATEGORY SLICE_FRACTION OUT [SIZE] [SLICES]
import { generateScan } from '../src/generate.js';
import { writePreviewPng } from '../src/preview.js';

const [seed = '1', category = '2', frac = '0.5', out = '/tmp/phantom-one.png', size = '512', slices = '48'] =
  process.argv.slice(2);
const s = generateScan(
  { slices: Number(slices), rows: Number(size), cols: Number(size), category: Number(category) as 1 | 2 | 3 | 4 },
  Number(seed),
);
const z = Math.round(Number(frac) * (Number(slices) - 1));
await writePreviewPng(out, s.ct, { grid: 1, slices: [z] });
console.log('involvement', s.involvement.toFixed(3), 'slice', z);
