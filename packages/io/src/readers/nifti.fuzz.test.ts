// Bounded fuzz test of readNifti: seeded mutations of small valid files (.nii and .nii.gz); every
// read must return a volume or throw a CovsevInputError. vitest's per-test timeout is the hang guard.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../random.js';
import { makeVolume } from '../volume.js';
import { writeNifti } from '../writers/nifti.js';
import { expectVolumeOrInputError, type FuzzField, type FuzzOutcome, mutate } from './fuzz.test-helpers.js';
import { readNifti } from './nifti.js';

const SEED = 20240601;
const MUTATIONS = 300;
/** Per test: a hang (or a huge inflate) fails here instead of stalling the suite. */
const TIMEOUT_MS = 30_000;

/** NIfTI-1 header fields (offset, bytes): sizeof_hdr, dim[0..7], datatype, bitpix, pixdim, vox_offset, scl, codes, quatern, srow. */
const NIFTI1_FIELDS: FuzzField[] = [
  { offset: 0, size: 4 },
  ...Array.from({ length: 8 }, (_, i) => ({ offset: 40 + 2 * i, size: 2 })),
  { offset: 70, size: 2 },
  { offset: 72, size: 2 },
  ...Array.from({ length: 8 }, (_, i) => ({ offset: 76 + 4 * i, size: 4 })),
  { offset: 108, size: 4 },
  { offset: 112, size: 4 },
  { offset: 116, size: 4 },
  { offset: 252, size: 2 },
  { offset: 254, size: 2 },
  ...Array.from({ length: 6 }, (_, i) => ({ offset: 256 + 4 * i, size: 4 })),
  ...Array.from({ length: 12 }, (_, i) => ({ offset: 280 + 4 * i, size: 4 })),
  { offset: 344, size: 4 },
];

let dir: string;
let int16Nii: Uint8Array;
let float32Nii: Uint8Array;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-nifti-fuzz-'));
  const shape = [4, 6, 8] as const;
  const n = shape[0] * shape[1] * shape[2];
  const a = join(dir, 'base-i16.nii');
  await writeNifti(
    a,
    makeVolume({
      data: Int16Array.from({ length: n }, (_, i) => i * 7 - 1000),
      shape: [...shape],
      spacing: [2, 0.7, 0.7],
      intensity: 'hu',
    }),
  );
  int16Nii = new Uint8Array(await readFile(a));
  const b = join(dir, 'base-f32.nii');
  await writeNifti(
    b,
    makeVolume({ data: Float32Array.from({ length: n }, (_, i) => i / 3), shape: [...shape], intensity: 'unknown' }),
  );
  float32Nii = new Uint8Array(await readFile(b));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fuzz(
  name: string,
  seed: number,
  make: (rng: Rng, index: number) => { bytes: Uint8Array; what: string },
  suffix: string,
) {
  const rng = Rng.fromSeed(seed);
  const counts: Record<FuzzOutcome, number> = { volume: 0, 'input-error': 0 };
  for (let i = 0; i < MUTATIONS; i++) {
    const { bytes, what } = make(rng, i);
    const path = join(dir, `${name}-${i}${suffix}`);
    await writeFile(path, bytes);
    counts[await expectVolumeOrInputError(readNifti(path), `${name} #${i} (seed ${seed}): ${what}`)]++;
    await rm(path);
  }
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  expect(counts.volume).toBeGreaterThan(0);
  expect(counts['input-error']).toBeGreaterThan(0);
}

describe('readNifti fuzz: a volume or a CovsevInputError, never anything else', () => {
  it(
    `.nii: ${MUTATIONS} mutations of int16 and float32 files`,
    async () => {
      await fuzz('nii', SEED, (rng, i) => mutate(rng, i % 2 === 0 ? int16Nii : float32Nii, 352, NIFTI1_FIELDS), '.nii');
    },
    TIMEOUT_MS,
  );

  it(
    `.nii.gz: ${MUTATIONS} mutations (of the inflated bytes, then gzipped; or of the gzip stream)`,
    async () => {
      const gz = gzipSync(int16Nii);
      await fuzz(
        'niigz',
        SEED + 1,
        (rng, i) => {
          if (i % 2 === 0) {
            const m = mutate(rng, i % 4 === 0 ? int16Nii : float32Nii, 352, NIFTI1_FIELDS);
            return { bytes: m.bytes.length === 0 ? m.bytes : gzipSync(m.bytes), what: `gzip(${m.what})` };
          }
          return mutate(rng, gz, 64, []);
        },
        '.nii.gz',
      );
    },
    TIMEOUT_MS,
  );
});
