/**
 * `generateScan(spec, seed)`: one synthetic chest CT in HU with its exact lung mask (1 = left,
 * 2 = right), infection mask, measured lung involvement and Table 1 grade.
 */
import { COV19_TRAIN_COUNTS, categoryFromInvolvement, makeVolume, type Volume } from '@covsev/io';
import { makeFields } from './fields.js';
import { frameAffine, planeGrid, type ScanFrame, sliceW } from './geometry.js';
import { planLesions, upperQuantile } from './lesions.js';
import { samplePatient } from './patient.js';
import { fieldPlane, planeBuffers, renderPlane, type Scene, SMOOTHED_NOISE_SD, smoothNoise } from './render.js';
import { checkSeed, fillNormal, normalTable, PhantomRng } from './rng.js';
import { airways, mediastinalTubes, pulmonaryVessels } from './trees.js';
import { TubeSet } from './tubes.js';
import type { Category, Spacing3 } from './types.js';

/** Involvement ranges targets are drawn from, per category, kept 1.5 points off the borders. */
export const CATEGORY_TARGET_RANGES: Readonly<Record<Category, readonly [number, number]>> = {
  1: [0.02, 0.235],
  2: [0.265, 0.485],
  3: [0.515, 0.735],
  4: [0.765, 0.92],
};

/** Table 1 class borders (fractions of lung volume). */
export const CLASS_BORDERS = [0.25, 0.5, 0.75] as const;

export interface ScanSpec {
  readonly slices: number;
  readonly rows: number;
  readonly cols: number;
  /** [between slices, between rows, between cols] in mm; default: the patient's field of view. */
  readonly spacing?: Spacing3;
  /** Fraction of lung volume to involve (0..1). */
  readonly targetInvolvement?: number;
  /** Grade to aim for when no target is given: the target is drawn inside its range. */
  readonly category?: Category;
  /**
   * Probability (0..1) that a scan whose involvement lies within `labelNoiseMargin` of a class
   * border is labelled with the grade across that border. Default 0.
   */
  readonly labelNoise?: number;
  /** Default 0.05 (5 points of involvement). */
  readonly labelNoiseMargin?: number;
  /** Fraction of the lesion volume that is consolidation (0..1); default drawn per scan. */
  readonly consolidation?: number;
}

export interface GenerateOptions {
  /** Called after each slice. */
  readonly onSlice?: (done: number, total: number) => void;
}

export interface PhantomScan {
  /** CT in HU (int16). */
  readonly ct: Volume<Int16Array>;
  /** 1 = left lung, 2 = right lung (patient's left is image right: columns grow to the left). */
  readonly lungMask: Volume<Uint8Array>;
  /** 1 where a lesion replaced lung. */
  readonly infectionMask: Volume<Uint8Array>;
  /** Measured: infected lung voxels / lung voxels. */
  readonly involvement: number;
  readonly targetInvolvement: number;
  /** Table 1 grade of the measured involvement (the truth). */
  readonly category: Category;
  /** Same as `category`, named for symmetry with `label`. */
  readonly trueCategory: Category;
  /** The grade a noisy annotator gave (equals the truth unless label noise flipped it). */
  readonly label: Category;
  readonly labelFlipped: boolean;
  readonly lungVoxels: { readonly left: number; readonly right: number };
  readonly infectedVoxels: number;
  readonly seed: number;
}

function checkSpec(spec: ScanSpec): void {
  for (const key of ['slices', 'rows', 'cols'] as const) {
    const n = spec[key];
    if (!Number.isInteger(n) || n < 1 || n > 4096) throw new RangeError(`scan ${key} must be an integer in 1..4096, got ${n}`);
  }
  if (spec.spacing !== undefined && !(spec.spacing.length === 3 && spec.spacing.every((s) => Number.isFinite(s) && s > 0))) {
    throw new RangeError(`spacing must be three positive numbers (mm), got [${spec.spacing.join(', ')}]`);
  }
  const t = spec.targetInvolvement;
  if (t !== undefined && !(t >= 0 && t <= 1)) throw new RangeError(`targetInvolvement must be in [0, 1], got ${t}`);
  if (spec.category !== undefined && ![1, 2, 3, 4].includes(spec.category))
    throw new RangeError(`category must be 1, 2, 3 or 4, got ${spec.category}`);
  const p = spec.labelNoise;
  if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`labelNoise must be a probability in [0, 1], got ${p}`);
  const m = spec.labelNoiseMargin;
  if (m !== undefined && !(m >= 0 && m <= 0.25)) throw new RangeError(`labelNoiseMargin must be in [0, 0.25], got ${m}`);
}

/** The grade across the nearest class border when it lies within `margin`, else undefined. */
export function neighbourAcrossBorder(involvement: number, margin: number): Category | undefined {
  let best: number | undefined;
  for (const b of CLASS_BORDERS)
    if (Math.abs(involvement - b) <= margin && (best === undefined || Math.abs(involvement - b) < Math.abs(involvement - best)))
      best = b;
  if (best === undefined) return undefined;
  const own = categoryFromInvolvement(involvement);
  const lower = categoryFromInvolvement(best - 1e-9);
  const upper = categoryFromInvolvement(best + 1e-9);
  return own === lower ? upper : lower;
}

/** Draws a target involvement for a category (uniform in its range). */
export function drawTarget(rng: PhantomRng, category: Category): number {
  const [lo, hi] = CATEGORY_TARGET_RANGES[category];
  return rng.uniform(lo, hi);
}

/** A category drawn with the COV19-CT-DB training proportions. */
export function drawCategory(rng: PhantomRng): Category {
  const total = COV19_TRAIN_COUNTS.reduce((a, b) => a + b, 0);
  let x = rng.uniform(0, total);
  for (let i = 0; i < 4; i++) {
    x -= COV19_TRAIN_COUNTS[i] as number;
    if (x < 0) return (i + 1) as Category;
  }
  return 4;
}

/** Builds the patient, its tubes and lesion plan. Exported for previews and tests. */
export function buildScene(seed: number, target: number, consolidation?: number): Scene {
  const rng = new PhantomRng(seed);
  const patient = samplePatient(rng.fork('patient'));
  const fields = makeFields(patient, rng.fork('fields'));
  const before = new TubeSet();
  mediastinalTubes(patient, before);
  const after = new TubeSet();
  pulmonaryVessels(patient, fields, rng.fork('vessels'), after);
  const mainAirways = new TubeSet();
  airways(patient, fields, rng.fork('airways'), after);
  for (let i = 0; i < after.size; i++) {
    const style = after.style(i);
    if (style.excludeFromLung) {
      const d = after.data();
      const o = i * TubeSet.STRIDE;
      mainAirways.add(
        [d[o] as number, d[o + 1] as number, d[o + 2] as number],
        [d[o + 3] as number, d[o + 4] as number, d[o + 5] as number],
        d[o + 6] as number,
        style,
      );
    }
  }
  const lesions = planLesions(patient, fields, rng.fork('lesions'), target, consolidation === undefined ? {} : { consolidation });
  return { patient, fields, before, after, mainAirways, lesions };
}

/** The frame of a scan of this spec for this patient. */
export function scanFrame(scene: Scene, spec: ScanSpec): ScanFrame {
  const p = scene.patient;
  const inPlane = p.fov / spec.cols;
  const spacing: Spacing3 = spec.spacing ?? [p.scanLength / spec.slices, inPlane, inPlane];
  return { slices: spec.slices, rows: spec.rows, cols: spec.cols, spacing, vCentre: p.vCentre, wCentre: p.wCentre };
}

/** Generates one scan. Same spec and seed: same bytes, on any machine. */
export function generateScan(spec: ScanSpec, seed: number, options: GenerateOptions = {}): PhantomScan {
  checkSpec(spec);
  checkSeed(seed);
  const rng = new PhantomRng(seed);
  const targetRng = rng.fork('target');
  const target = spec.targetInvolvement ?? drawTarget(targetRng, spec.category ?? drawCategory(targetRng));
  const scene = buildScene(seed, target, spec.consolidation);
  const frame = scanFrame(scene, spec);
  const { slices, rows, cols } = frame;
  const sz = frame.spacing[0];
  const w0 = sliceW(frame, 0);

  // Sizing pass on a coarse sub-grid (the full grid for small scans): the lesion thresholds.
  const stride = Math.max(1, Math.ceil(Math.max(rows, cols) / 128));
  const zStride = Math.max(1, Math.ceil(slices / 64));
  const coarse = planeGrid(frame, stride);
  const coarseCount = Math.ceil(slices / zStride);
  const cbuf = planeBuffers(coarse);
  const clabel = new Uint8Array(coarse.rows * coarse.cols);
  const cindex = scene.mainAirways.index(w0, sz * zStride, coarseCount, coarse.halfSlab);
  const samples: number[] = [];
  for (let k = 0; k < coarseCount; k++) {
    const from = cindex.offsets[k] as number;
    const to = cindex.offsets[k + 1] as number;
    fieldPlane(scene, coarse, sliceW(frame, k * zStride), cbuf, clabel, { ids: cindex.ids, from, to }, (f) => samples.push(f));
  }
  if (samples.length === 0) {
    throw new RangeError(
      `the scan's field of view holds no lung (shape [${slices}, ${rows}, ${cols}], spacing [${frame.spacing.join(', ')}] mm)`,
    );
  }
  const fieldValues = Float32Array.from(samples);
  const tau = upperQuantile(fieldValues, target);
  const kappa = upperQuantile(fieldValues, target * scene.lesions.consolidation);

  // Full pass.
  const grid = planeGrid(frame, 1);
  const plane = rows * cols;
  const ct = new Int16Array(slices * plane);
  const lung = new Uint8Array(slices * plane);
  const infection = new Uint8Array(slices * plane);
  const buf = planeBuffers(grid);
  const beforeIndex = scene.before.index(w0, sz, slices, grid.halfSlab);
  const afterIndex = scene.after.index(w0, sz, slices, grid.halfSlab);
  const noiseRng = rng.fork('image-noise');
  const table = normalTable(noiseRng.fork('table'));
  const noise = new Float32Array(plane);
  const tmp = new Float32Array(plane);
  const noiseScale = scene.patient.noiseSd / SMOOTHED_NOISE_SD;
  let left = 0;
  let right = 0;
  let infected = 0;
  for (let z = 0; z < slices; z++) {
    const label = lung.subarray(z * plane, (z + 1) * plane);
    const inf = infection.subarray(z * plane, (z + 1) * plane);
    renderPlane(
      scene,
      grid,
      sliceW(frame, z),
      buf,
      label,
      inf,
      { ids: beforeIndex.ids, from: beforeIndex.offsets[z] as number, to: beforeIndex.offsets[z + 1] as number },
      { ids: afterIndex.ids, from: afterIndex.offsets[z] as number, to: afterIndex.offsets[z + 1] as number },
      tau,
      kappa,
    );
    fillNormal(noiseRng, table, noise);
    smoothNoise(noise, tmp, rows, cols);
    const hu = buf.hu;
    const out = ct.subarray(z * plane, (z + 1) * plane);
    for (let i = 0; i < plane; i++) {
      let v = Math.round((hu[i] as number) + noiseScale * (noise[i] as number));
      if (v < -1024) v = -1024;
      else if (v > 3071) v = 3071;
      out[i] = v;
      const l = label[i] as number;
      if (l === 1) left++;
      else if (l === 2) right++;
      infected += inf[i] as number;
    }
    options.onSlice?.(z + 1, slices);
  }
  const lungTotal = left + right;
  if (lungTotal === 0) throw new RangeError(`the scan holds no lung voxel (shape [${slices}, ${rows}, ${cols}])`);
  const involvement = infected / lungTotal;
  const category = categoryFromInvolvement(involvement) as Category;
  let label = category;
  let labelFlipped = false;
  const p = spec.labelNoise ?? 0;
  if (p > 0) {
    const across = neighbourAcrossBorder(involvement, spec.labelNoiseMargin ?? 0.05);
    if (across !== undefined && rng.fork('label-noise').chance(p)) {
      label = across;
      labelFlipped = true;
    }
  }
  const affine = frameAffine(frame);
  const source = `phantom:seed=${seed}`;
  const geometry = { shape: [slices, rows, cols] as const, spacing: frame.spacing, affine, source };
  return {
    ct: makeVolume({ data: ct, ...geometry, intensity: 'hu' }),
    lungMask: makeVolume({ data: lung, ...geometry, intensity: 'label' }),
    infectionMask: makeVolume({ data: infection, ...geometry, intensity: 'label' }),
    involvement,
    targetInvolvement: target,
    category,
    trueCategory: category,
    label,
    labelFlipped,
    lungVoxels: { left, right },
    infectedVoxels: infected,
    seed,
  };
}
