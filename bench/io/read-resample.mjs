// One timed job for the io benchmark: read a COV19-CT-DB JPG scan folder and resample it to
// 64x256x256 (trilinear), the classifier's input grid. Prints one JSON line.
// Usage: node bench/io/read-resample.mjs <scan folder> [preprocess|every-slice] [slices,rows,cols]
//   preprocess   the user path, preprocessScan: decodes only the slices the interpolation reads
//   every-slice  readJpgFolder (every slice decoded) then resampleVolume
import { listSliceFiles, preprocessScan, readJpgFolder, resampleVolume } from '../../packages/io/dist/index.js';

const [folder, path = 'preprocess', target = '64,256,256'] = process.argv.slice(2);
const shape = target.split(',').map(Number);
const t0 = performance.now();
let readMs;
let out;
let slices;
if (path === 'every-slice') {
  const volume = await readJpgFolder(folder);
  readMs = performance.now() - t0;
  out = resampleVolume(volume, shape, { mode: 'linear' });
  slices = volume.shape[0];
} else {
  out = (await preprocessScan(folder, { shape, mode: 'linear', output: 'float32' })).volume;
  readMs = null; // decode and resampling interleave on this path
}
const totalMs = performance.now() - t0;
slices ??= (await listSliceFiles(folder)).length;
let checksum = 0;
for (let i = 0; i < out.data.length; i += 997) checksum += out.data[i];
console.log(
  JSON.stringify({
    tool: path === 'every-slice' ? 'covsev (every slice decoded)' : 'covsev preprocessScan',
    slices,
    readMs,
    resampleMs: readMs === null ? null : totalMs - readMs,
    totalMs,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    checksum,
  }),
);
