// Bounded fuzz test of readJpgFolder: seeded mutations of one slice of a small scan folder made
// with sharp; every read must return a volume or throw a CovsevInputError. vitest's per-test
// timeout is the hang guard.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../random.js';
import { expectVolumeOrInputError, type FuzzField, type FuzzOutcome, mutate } from './fuzz.test-helpers.js';
import { readJpgFolder } from './jpgFolder.js';

const SEED = 20240603;
const MUTATIONS = 300;
const TIMEOUT_MS = 30_000;
const ROWS = 24;
const COLS = 32;

let dir: string;
let slices: Uint8Array[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-jpg-fuzz-'));
  const make = (k: number, channels: 1 | 3) => {
    const pixels = new Uint8Array(ROWS * COLS * channels).map((_, i) => (i * 7 + k * 40) % 256);
    return sharp(pixels, { raw: { width: COLS, height: ROWS, channels } })
      .jpeg({ quality: 90 })
      .toBuffer();
  };
  slices = (await Promise.all([make(0, 1), make(1, 1), make(2, 3)])).map((b) => new Uint8Array(b));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The segment lengths and SOF fields (precision, height, width, components) of a JPG: the header fields to overwrite. */
function jpegFields(bytes: Uint8Array): { fields: FuzzField[]; header: number } {
  const fields: FuzzField[] = [];
  let header = bytes.length;
  for (let i = 2; i + 4 <= bytes.length; ) {
    if (bytes[i] !== 0xff) break;
    const marker = bytes[i + 1] as number;
    fields.push({ offset: i + 2, size: 2 });
    if (marker === 0xc0 || marker === 0xc2) {
      fields.push({ offset: i + 4, size: 1 }, { offset: i + 5, size: 2 }, { offset: i + 7, size: 2 }, { offset: i + 9, size: 1 });
    }
    if (marker === 0xda) {
      header = i + 4;
      break;
    }
    i += 2 + (((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number));
  }
  return { fields, header };
}

describe('readJpgFolder fuzz: a volume or a CovsevInputError, never anything else', () => {
  it(
    `${MUTATIONS} mutations of one slice of a 3-slice folder (grey and RGB slices)`,
    async () => {
      const rng = Rng.fromSeed(SEED);
      const counts: Record<FuzzOutcome, number> = { volume: 0, 'input-error': 0 };
      for (let i = 0; i < MUTATIONS; i++) {
        const folder = join(dir, `scan-${i}`);
        await mkdir(folder);
        const target = i % 3;
        const base = slices[target] as Uint8Array;
        const { fields, header } = jpegFields(base);
        const m = mutate(rng, base, header, fields);
        for (let k = 0; k < 3; k++) await writeFile(join(folder, `${k}.jpg`), k === target ? m.bytes : (slices[k] as Uint8Array));
        const what = `#${i} (seed ${SEED}) slice ${target}: ${m.what}`;
        counts[await expectVolumeOrInputError(readJpgFolder(folder, { resizeMismatched: i % 4 === 3 }), what)]++;
        await rm(folder, { recursive: true });
      }
      expect(counts.volume).toBeGreaterThan(0);
      expect(counts['input-error']).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});
