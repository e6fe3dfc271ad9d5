/**
 * The morphology against hand-made cases and against scipy.ndimage on random masks. scipy is
 * looked for in $COVSEV_PYTHON, Debian's /usr/bin/python3, then the first python3 on PATH; the
 * scipy comparisons are skipped, with a message, when none of them imports it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, type Shape3 } from '@covsev/io';
import { afterAll, describe, expect, it } from 'vitest';
import {
  closeMask,
  dilateMask,
  erodeMask,
  fillHoles,
  keepLargestComponents,
  labelComponents,
  openMask,
  removeSmallComponents,
  type StructuringElement,
} from './index.js';

/** A mask from rows of '#' (1) and '.' (0); slices separated by blank strings. */
function maskOf(...lines: string[]): { mask: Uint8Array; shape: Shape3 } {
  const slices: string[][] = [[]];
  for (const line of lines) {
    if (line === '') slices.push([]);
    else (slices[slices.length - 1] as string[]).push(line);
  }
  const rows = (slices[0] as string[]).length;
  const cols = ((slices[0] as string[])[0] as string).length;
  const text = slices.map((s) => s.join('')).join('');
  return { mask: Uint8Array.from(text, (c) => (c === '#' ? 1 : 0)), shape: [slices.length, rows, cols] };
}
const sum = (m: ArrayLike<number>): number => Array.from(m).reduce((a, b) => a + b, 0);

describe('hand-made cases', () => {
  it("a ring's hole is filled, the outside stays background", () => {
    const { mask, shape } = maskOf('.......', '.#####.', '.#...#.', '.#.#.#.', '.#...#.', '.#####.', '.......');
    const filled = fillHoles(mask, shape);
    expect(Array.from(filled)).toEqual(
      Array.from(maskOf('.......', '.#####.', '.#####.', '.#####.', '.#####.', '.#####.', '.......').mask),
    );
  });

  it('a C open to the outside is not filled; in 3D a tube open at its ends is not, in-plane it is', () => {
    const c = maskOf('#####', '#...#', '#.#..', '#...#', '#####');
    expect(Array.from(fillHoles(c.mask, c.shape))).toEqual(Array.from(c.mask));
    // Three slices of the same ring: each slice's hole is closed in-plane, but the tube is open at z faces.
    const ring = maskOf('#####', '#...#', '#...#', '#...#', '#####');
    const tube = new Uint8Array(3 * 25);
    for (let z = 0; z < 3; z++) tube.set(ring.mask, z * 25);
    expect(sum(fillHoles(tube, [3, 5, 5], 4))).toBe(75);
    expect(Array.from(fillHoles(tube, [3, 5, 5], 6))).toEqual(Array.from(tube));
  });

  it('two blobs: labels in raster order, the smaller one dropped by keepLargestComponents', () => {
    const { mask, shape } = maskOf('##.....', '##..###', '....###', '....###');
    const { labels, count, sizes } = labelComponents(mask, shape, 8);
    expect(count).toBe(2);
    expect(labels[0]).toBe(1);
    expect(labels[7 + 4]).toBe(2);
    expect(Array.from(sizes)).toEqual([28 - 13, 4, 9]);
    const kept = keepLargestComponents(mask, shape, 1, 8);
    expect(Array.from(kept)).toEqual(Array.from(maskOf('.......', '....###', '....###', '....###').mask));
    expect(sum(keepLargestComponents(mask, shape, 2, 26))).toBe(13);
    expect(sum(removeSmallComponents(mask, shape, 5, 4))).toBe(9);
  });

  it('diagonal contact joins under 8 / 26 but not under 4 / 6; components cross slices only in 3D', () => {
    const diag = maskOf('#.', '.#');
    expect(labelComponents(diag.mask, diag.shape, 4).count).toBe(2);
    expect(labelComponents(diag.mask, diag.shape, 8).count).toBe(1);
    const stacked = maskOf('#.', '..', '', '#.', '..');
    expect(labelComponents(stacked.mask, stacked.shape, 8).count).toBe(2);
    expect(labelComponents(stacked.mask, stacked.shape, 6).count).toBe(1);
    const corner = maskOf('#.', '..', '', '..', '.#');
    expect(labelComponents(corner.mask, corner.shape, 18).count).toBe(2);
    expect(labelComponents(corner.mask, corner.shape, 26).count).toBe(1);
  });

  it('a U joined at its bottom gets one label (union of two provisional labels)', () => {
    const { mask, shape } = maskOf('#.#.#', '#.#.#', '#####');
    const { labels, count } = labelComponents(mask, shape, 4);
    expect(count).toBe(1);
    expect(new Set(Array.from(labels).filter((l) => l > 0))).toEqual(new Set([1]));
  });

  it('keepLargestComponents with an in-plane connectivity keeps the largest of each slice', () => {
    const { mask, shape } = maskOf('##.#', '##..', '', '#.##', '..##');
    const kept = keepLargestComponents(mask, shape, 1, 4);
    expect(Array.from(kept)).toEqual(Array.from(maskOf('##..', '##..', '', '..##', '..##').mask));
  });

  it('erosion, dilation, opening and closing of small cases', () => {
    const square = maskOf('.....', '.###.', '.###.', '.###.', '.....');
    const centre = maskOf('.....', '.....', '..#..', '.....', '.....');
    expect(Array.from(erodeMask(square.mask, square.shape, { shape: 'cross', radius: 1, planar: true }))).toEqual(
      Array.from(centre.mask),
    );
    const plus = maskOf('.....', '..#..', '.###.', '..#..', '.....');
    expect(Array.from(dilateMask(centre.mask, centre.shape, { shape: 'cross', radius: 1, planar: true }))).toEqual(
      Array.from(plus.mask),
    );
    expect(Array.from(dilateMask(centre.mask, centre.shape, { shape: 'box', radius: 1, planar: true }))).toEqual(
      Array.from(square.mask),
    );
    // Opening removes a one-pixel spur; closing fills a one-pixel notch.
    const spur = maskOf('......', '.###..', '.####.', '.###..', '......');
    expect(Array.from(openMask(spur.mask, spur.shape, { shape: 'box', radius: 1, planar: true }))).toEqual(
      Array.from(maskOf('......', '.###..', '.###..', '.###..', '......').mask),
    );
    const notch = maskOf('.....', '.###.', '.#.#.', '.###.', '.....');
    expect(Array.from(closeMask(notch.mask, notch.shape, { shape: 'box', radius: 1, planar: true }))).toEqual(
      Array.from(square.mask),
    );
    // borderValue 1: a full grid does not erode from its edges; 0 (scipy's default) does.
    const full = new Uint8Array(9).fill(1);
    expect(sum(erodeMask(full, [1, 3, 3], { shape: 'cross', radius: 1, planar: true }, { borderValue: 1 }))).toBe(9);
    expect(sum(erodeMask(full, [1, 3, 3], { shape: 'cross', radius: 1, planar: true }))).toBe(1);
    expect(sum(erodeMask(full, [1, 3, 3], { shape: 'box', radius: 0 }))).toBe(9);
  });

  it('bad arguments throw errors naming the function and the value', () => {
    expect(() => labelComponents(new Uint8Array(5), [1, 2, 2])).toThrow(
      /labelComponents: mask has 5 voxels but shape \[1, 2, 2\] needs 4/,
    );
    expect(() => fillHoles(new Uint8Array(4), [1, 2, 2], 5 as never)).toThrow(
      /fillHoles: connectivity must be one of 4, 8, 6, 18, 26, got 5/,
    );
    expect(() => erodeMask(new Uint8Array(4), [1, 2, 2], { shape: 'box', radius: 1.5 })).toThrow(/erodeMask: element.radius/);
    expect(() => dilateMask(new Uint8Array(4), [1, 2, 2], { shape: 'disk' as never, radius: 1 })).toThrow(
      /dilateMask: element.shape/,
    );
    expect(() => keepLargestComponents(new Uint8Array(4), [1, 2, 2], -1)).toThrow(/keepLargestComponents: n must be/);
  });
});

// ---------------------------------------------------------------------------------------------
// scipy.ndimage parity on random masks.

function findScipyPython(): string | undefined {
  const candidates = [process.env.COVSEV_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  return candidates.find((p) => spawnSync(p, ['-c', 'import scipy.ndimage, numpy'], { stdio: 'ignore' }).status === 0);
}
const PYTHON = findScipyPython();
if (PYTHON === undefined) {
  console.warn(
    'morphology.test.ts: no python3 with scipy (tried $COVSEV_PYTHON, /usr/bin/python3, python3); scipy parity skipped',
  );
}

/** Runs every op in scipy; each case is a mask file in, a result file out (int32 for labels, uint8 otherwise). */
const SCIPY_SCRIPT = `
import json, sys
import numpy as np
from scipy import ndimage as ndi
cases = json.load(open(sys.argv[1]))
def structure(conn):
    if conn in (4, 8):
        s = np.zeros((3, 3, 3), bool)
        s[1] = ndi.generate_binary_structure(2, 1 if conn == 4 else 2)
        return s
    return ndi.generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[conn])
def element(e):
    rank = 2 if e['planar'] else 3
    if e['shape'] == 'cross':
        s = ndi.iterate_structure(ndi.generate_binary_structure(rank, 1), e['radius'])
    else:
        s = np.ones((2 * e['radius'] + 1,) * rank, bool)
    return s[None] if e['planar'] else s
for c in cases:
    m = np.fromfile(c['in'], np.uint8).reshape(c['shape']).astype(bool)
    op = c['op']
    if op == 'label':
        out, _ = ndi.label(m, structure(c['conn']))
        out.astype(np.int32).tofile(c['out'])
        continue
    if op == 'fill':
        out = ndi.binary_fill_holes(m, structure(c['conn']))
    elif op == 'erode':
        out = ndi.binary_erosion(m, element(c['element']), border_value=c['border'])
    elif op == 'dilate':
        out = ndi.binary_dilation(m, element(c['element']))
    elif op == 'open':
        out = ndi.binary_opening(m, element(c['element']), border_value=c['border'])
    elif op == 'close' and c['border'] == 0:
        out = ndi.binary_closing(m, element(c['element']))
    elif op == 'close':
        # binary_closing(border_value=1) would apply the border to its dilation too (filling the
        # grid's edge); closeMask's borderValue is the erosion's alone.
        out = ndi.binary_erosion(ndi.binary_dilation(m, element(c['element'])), element(c['element']), border_value=1)
    out.astype(np.uint8).tofile(c['out'])
`;

interface ScipyCase {
  op: 'label' | 'fill' | 'erode' | 'dilate' | 'open' | 'close';
  shape: Shape3;
  mask: Uint8Array;
  conn?: 4 | 8 | 6 | 18 | 26;
  element?: Required<StructuringElement>;
  border?: 0 | 1;
}

const tmp = mkdtempSync(join(tmpdir(), 'covsev-morphology-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function runScipy(cases: ScipyCase[]): Uint8Array[] | Int32Array[] {
  const spec = cases.map((c, k) => {
    const input = join(tmp, `in${k}.bin`);
    writeFileSync(input, c.mask);
    const { mask: _m, ...rest } = c;
    return { ...rest, in: input, out: join(tmp, `out${k}.bin`) };
  });
  writeFileSync(join(tmp, 'cases.json'), JSON.stringify(spec));
  const run = spawnSync(PYTHON as string, ['-c', SCIPY_SCRIPT, join(tmp, 'cases.json')], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`scipy script failed: ${run.stderr}`);
  return spec.map((s, k) => {
    const bytes = readFileSync(s.out);
    return cases[k]?.op === 'label'
      ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Uint8Array(bytes);
  }) as Uint8Array[] | Int32Array[];
}

/** A random mask: smoothed noise thresholded at `density`, so it has blobs, holes and thin bits. */
function randomMask(rng: Rng, shape: Shape3, density: number): Uint8Array {
  const n = shape[0] * shape[1] * shape[2];
  const noise = Float64Array.from({ length: n }, () => rng.uniform());
  const smooth = new Float64Array(n);
  const [s, r, c] = shape;
  for (let z = 0; z < s; z++)
    for (let y = 0; y < r; y++)
      for (let x = 0; x < c; x++) {
        let acc = 0;
        let cnt = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy < 0 || yy >= r || xx < 0 || xx >= c) continue;
            acc += noise[(z * r + yy) * c + xx] as number;
            cnt++;
          }
        smooth[(z * r + y) * c + x] = acc / cnt;
      }
  return Uint8Array.from(smooth, (v) => (v < density ? 1 : 0));
}

describe.skipIf(PYTHON === undefined)('agrees with scipy.ndimage on random masks', () => {
  const rng = Rng.fromSeed(20261201);
  const shapes: Shape3[] = [
    [1, 23, 31],
    [5, 17, 19],
    [9, 12, 14],
  ];
  const masks = shapes.flatMap((shape) => [0.35, 0.5, 0.6].map((d) => ({ shape, mask: randomMask(rng, shape, d) })));
  const conns = [4, 8, 6, 18, 26] as const;
  const elements: Required<StructuringElement>[] = [];
  for (const shape of ['cross', 'box'] as const)
    for (const radius of [1, 2]) for (const planar of [true, false]) elements.push({ shape, radius, planar });

  const cases: ScipyCase[] = [];
  for (const m of masks) {
    for (const conn of conns) {
      cases.push({ op: 'label', ...m, conn });
      cases.push({ op: 'fill', ...m, conn });
    }
    for (const element of elements) {
      for (const border of [0, 1] as const) cases.push({ op: 'erode', ...m, element, border });
      cases.push({ op: 'dilate', ...m, element });
      cases.push({ op: 'open', ...m, element, border: 0 });
      for (const border of [0, 1] as const) cases.push({ op: 'close', ...m, element, border });
    }
  }

  it(`${cases.length} cases: label, binary_fill_holes, erosion, dilation, opening, closing`, () => {
    const expected = runScipy(cases);
    let labelled = 0;
    let filled = 0;
    cases.forEach((c, k) => {
      const what = `${c.op} shape [${c.shape.join(',')}] conn ${c.conn ?? '-'} element ${JSON.stringify(c.element)} border ${c.border ?? '-'}`;
      const want = expected[k] as Uint8Array | Int32Array;
      let got: Uint8Array | Int32Array;
      const el = c.element as StructuringElement;
      const opts = { borderValue: c.border ?? 0 } as const;
      switch (c.op) {
        case 'label': {
          const res = labelComponents(c.mask, c.shape, c.conn);
          got = res.labels;
          expect(res.count, what).toBe(Math.max(0, ...Array.from(want)));
          if (res.count > 1) labelled++;
          break;
        }
        case 'fill':
          got = fillHoles(c.mask, c.shape, c.conn);
          if (sum(want) > sum(c.mask)) filled++;
          break;
        case 'erode':
          got = erodeMask(c.mask, c.shape, el, opts);
          break;
        case 'dilate':
          got = dilateMask(c.mask, c.shape, el);
          break;
        case 'open':
          got = openMask(c.mask, c.shape, el, opts);
          break;
        case 'close':
          got = closeMask(c.mask, c.shape, el, opts);
          break;
      }
      let mismatches = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) mismatches++;
      expect(mismatches, what).toBe(0);
      expect(got.length, what).toBe(want.length);
    });
    // The random masks must exercise the code: several components, and fills that change something.
    expect(labelled).toBeGreaterThan(20);
    expect(filled).toBeGreaterThan(10);
  });
});
