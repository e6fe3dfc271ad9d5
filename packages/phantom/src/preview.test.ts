// Developer helper, skipped unless PHANTOM_PREVIEW is set:
//   PHANTOM_PREVIEW=1 npx vitest run src/preview.test.ts
// writes /tmp/phantom-montage.png (a moderate case) and /tmp/phantom-severe.png (+ overlays).
import { describe, it } from 'vitest';
import { generateScan } from './generate.js';
import { writePreviewPng } from './preview.js';

const size = Number(process.env.PHANTOM_PREVIEW_SIZE ?? 256);
const slices = Number(process.env.PHANTOM_PREVIEW_SLICES ?? 64);
const seed = Number(process.env.PHANTOM_PREVIEW_SEED ?? 1);

describe.skipIf(!process.env.PHANTOM_PREVIEW)('preview', () => {
  it('writes montages', async () => {
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
  });
});
