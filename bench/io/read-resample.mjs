// One timed job for the io benchmark: read a COV19-CT-DB JPG scan folder and resample it to
// 64x256x256 (trilinear), the classifier's input grid. Prints one JSON line.
// Usage: node bench/io/read-resample.mjs <scan folder> [slices,rows,cols]
import { readJpgFolder, resampleVolume } from '../../packages/io/dist/index.js';

const [folder, target = '64,256,256'] = process.argv.slice(2);
const shape = target.split(',').map(Number);
const t0 = performance.now();
const volume = await readJpgFolder(folder);
const t1 = performance.now();
const out = resampleVolume(volume, shape, { mode: 'linear' });
const t2 = performance.now();
let checksum = 0;
for (let i = 0; i < out.data.length; i += 997) checksum += out.data[i];
console.log(
  JSON.stringify({
    tool: 'covsev',
    slices: volume.shape[0],
    readMs: t1 - t0,
    resampleMs: t2 - t1,
    totalMs: t2 - t0,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    checksum,
  }),
);
