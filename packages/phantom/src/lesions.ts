/**
 * COVID-19 lesions: ground-glass opacities (GGO, about -700..-300 HU) and consolidation (about
 * -100..+50 HU), multifocal, predominantly peripheral (subpleural), posterior and basal.
 *
 * The lesions are the upper level set of one smooth "disease field" F over the lungs: a sum of
 * compact blobs placed with those preferences, plus gentle terms that favour the pleura, the back
 * and the bases, plus noise that makes the borders irregular. Lowering the threshold grows every
 * lesion and merges them, the way an infection spreads; the threshold is chosen as a quantile of
 * F over the lung voxels, so the involved fraction hits its target. The infection mask is
 * exactly {lung voxel : F >= threshold}; inside it the opacity ramps up from the border, which
 * gives the fuzzy edge of GGO, and the densest part of the field turns into consolidation.
 */
import type { Fields } from './fields.js';
import type { PlaneGrid } from './geometry.js';
import { indexRange } from './geometry.js';
import { lungSdPoint, MAX_DEPTH } from './lungs.js';
import type { NoisePlane } from './noise.js';
import { sample2 } from './noise.js';
import type { Patient } from './patient.js';
import type { PhantomRng } from './rng.js';
import { clamp } from './shapes.js';

export interface Blob {
  readonly u: number;
  readonly v: number;
  readonly w: number;
  /**
   * In-plane and craniocaudal radii (mm). The kernel mixes a plateau 1 - d^4 (distinct patches,
   * for small involvements) with a dome (1 - d^2)^2 (smooth confluent disease, for large ones);
   * d is the normalised distance divided by a lobulation factor 1 +- plan.lobulation.
   */
  readonly r: number;
  readonly rw: number;
  readonly h: number;
}

export interface LesionPlan {
  readonly blobs: readonly Blob[];
  /** Weights of the background terms of the field. */
  readonly pleural: number;
  readonly posterior: number;
  readonly basal: number;
  readonly coarseNoise: number;
  readonly mediumNoise: number;
  /** Mean HU of ground glass, and of consolidation. */
  readonly ggoHu: number;
  readonly consolidationHu: number;
  /** Fraction (0..1) of the lesion volume that is consolidation. */
  readonly consolidation: number;
  /** Amplitude (0..1) of the lobulation of blob outlines. */
  readonly lobulation: number;
  /** Weight of the plateau kernel against the dome kernel (0..1). */
  readonly plateau: number;
  /** Half width (in field units) of the fuzzy border ramp. */
  readonly softness: number;
}

export interface LesionOptions {
  /** Fraction of the lesion volume that is consolidation (default drawn from the involvement). */
  readonly consolidation?: number;
}

/** Posterior position 0 (front of the cavity) .. 1 (back). */
export function posteriorness(p: Patient, v: number): number {
  return clamp((v - (p.cavity.cv - p.cavity.b)) / (2 * p.cavity.b), 0, 1);
}

/** Basal position 0 (apex) .. 1 (lowest recess). */
export function basalness(p: Patient, w: number): number {
  return clamp((p.lungs.apexW - w) / (p.lungs.apexW - p.lungs.recessW), 0, 1);
}

/** Draws the blobs and the looks of the lesions for a target involvement (0..1). */
export function planLesions(
  p: Patient,
  fields: Fields,
  rng: PhantomRng,
  target: number,
  options: LesionOptions = {},
): LesionPlan {
  const blobs: Blob[] = [];
  const cav = p.cavity;
  // Blobs are added until their summed volume is a multiple of the volume to involve (the lung
  // volume is estimated from the same rejection sampling), so that large targets are reached by
  // confluent lesions rather than by the background terms of the field.
  const boxVolume = 2 * cav.a * 2 * cav.b * (p.lungs.apexW - p.lungs.recessW);
  let inLung = 0;
  let drawn = 0;
  let blobVolume = 0;
  const minCount = target <= 0 ? 0 : 3 + rng.int(0, 3);
  let tries = 0;
  const enough = (): boolean => {
    if (target <= 0) return true;
    if (blobs.length < minCount || drawn < 200) return false;
    const lungVolume = (boxVolume * inLung) / drawn;
    return blobVolume >= (0.3 + 1.1 * target) * lungVolume || blobs.length >= 80;
  };
  while (!enough() && tries < 50000) {
    tries++;
    // Both lungs, the right slightly more often (it is larger).
    const side = rng.chance(0.55) ? -1 : 1;
    const u = side * rng.uniform(0, cav.a);
    const v = rng.uniform(cav.cv - cav.b, cav.cv + cav.b);
    const w = rng.uniform(p.lungs.recessW, p.lungs.apexW);
    const sd = lungSdPoint(p, fields, u, v, w);
    drawn++;
    if (sd > 0) continue;
    inLung++;
    if (sd > -2) continue;
    const depth = -sd;
    const weight =
      (0.2 + 0.8 * posteriorness(p, v)) * (0.25 + 0.75 * basalness(p, w)) * (depth < 12 ? 1 : depth < 25 ? 0.45 : 0.12);
    if (!rng.chance(weight)) continue;
    const r = rng.uniform(12, 26) + 14 * target;
    const rw = r * rng.uniform(0.8, 1.3);
    blobs.push({ u, v, w, r, rw, h: rng.uniform(0.8, 1.3) });
    blobVolume += 0.3 * (4 / 3) * Math.PI * r * r * rw;
  }
  const consolidation =
    options.consolidation ?? clamp(rng.uniform(0, 0.08) + 0.45 * target * target * rng.uniform(0.5, 1.2), 0, 0.6);
  if (!(consolidation >= 0 && consolidation <= 1)) throw new RangeError(`consolidation must be in [0, 1], got ${consolidation}`);
  return {
    blobs,
    pleural: rng.uniform(0.15, 0.25),
    posterior: rng.uniform(0.2, 0.32),
    basal: rng.uniform(0.15, 0.25),
    coarseNoise: rng.uniform(0.18, 0.26),
    // Fine irregularity matters for small lesions; for large ones it would only mottle them.
    mediumNoise: rng.uniform(0.1, 0.14) * (1 - 0.6 * target),
    ggoHu: rng.uniform(-590, -460),
    consolidationHu: rng.uniform(-60, 25),
    consolidation,
    lobulation: 0.4 * (1 - 0.7 * target),
    plateau: clamp(1.2 - 1.6 * target, 0, 1),
    softness: 0.15,
  };
}

/**
 * Evaluates the disease field F in one plane at the voxels where `sd` (signed distance to the
 * lung, mm) is below `sdLimit`; elsewhere F is left at -Infinity.
 */
export function lesionField(
  plan: LesionPlan,
  p: Patient,
  grid: PlaneGrid,
  w: number,
  sd: Float32Array,
  sdLimit: number,
  coarse: NoisePlane,
  medium: NoisePlane,
  out: Float32Array,
): void {
  out.fill(0);
  const lob = plan.lobulation;
  const plateau = plan.plateau;
  const smax = 1 + lob;
  for (const b of plan.blobs) {
    const dz = (w - b.w) / b.rw;
    const rr = smax * smax - dz * dz;
    if (rr <= 0) continue;
    const rs = b.r * Math.sqrt(rr);
    const [c0, c1] = indexRange(grid.u0, grid.du, grid.cols, b.u - rs, b.u + rs);
    const [r0, r1] = indexRange(grid.v0, grid.dv, grid.rows, b.v - rs, b.v + rs);
    const inv = 1 / (b.r * b.r);
    for (let row = r0; row <= r1; row++) {
      const v = grid.v0 + row * grid.dv;
      const ev = v - b.v;
      const base = row * grid.cols;
      for (let col = c0; col <= c1; col++) {
        const u = grid.u0 + col * grid.du;
        const eu = u - b.u;
        const raw = (eu * eu + ev * ev) * inv + dz * dz;
        if (raw >= smax * smax) continue;
        const s = 1 + lob * sample2(medium, 0.7 * u + 300, 0.7 * v - 200);
        const d2 = raw / (s * s);
        if (d2 >= 1) continue;
        const k = 1 - d2;
        out[base + col] = (out[base + col] as number) + b.h * (plateau * (1 - d2 * d2) + (1 - plateau) * k * k);
      }
    }
  }
  const basal = plan.basal * basalness(p, w);
  for (let row = 0; row < grid.rows; row++) {
    const v = grid.v0 + row * grid.dv;
    const post = plan.posterior * posteriorness(p, v);
    const base = row * grid.cols;
    for (let col = 0; col < grid.cols; col++) {
      const idx = base + col;
      const s = sd[idx] as number;
      if (s > sdLimit) {
        out[idx] = Number.NEGATIVE_INFINITY;
        continue;
      }
      const u = grid.u0 + col * grid.du;
      const depth = s < 0 ? (-s > MAX_DEPTH ? MAX_DEPTH : -s) : 0;
      const q = 1 + depth / 8;
      out[idx] =
        (out[idx] as number) +
        plan.pleural / (q * q) +
        post +
        basal +
        plan.coarseNoise * sample2(coarse, u + 211, v - 97) +
        plan.coarseNoise * sample2(coarse, 0.5 * u - 120, 0.5 * v + 60) +
        plan.mediumNoise * sample2(medium, u, v);
    }
  }
}

/** The threshold with round(fraction * n) of the n values at or above it (+Infinity for none). */
export function upperQuantile(values: Float32Array, fraction: number): number {
  const n = values.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  const keep = Math.round(clamp(fraction, 0, 1) * n);
  if (keep <= 0) return Number.POSITIVE_INFINITY;
  if (keep >= n) return Number.NEGATIVE_INFINITY;
  const sorted = values.slice().sort();
  return sorted[n - keep] as number;
}

/**
 * HU of lung at a voxel given the parenchyma value there and the field: unchanged below the
 * border ramp, ground glass (textured) above it, consolidation where F (plus `patch`, a smooth
 * field in [-1, 1]) passes `kappa`.
 */
export function lesionHu(
  plan: LesionPlan,
  base: number,
  f: number,
  tau: number,
  kappa: number,
  texture: number,
  patch: number,
): number {
  // Inside the mask the opacity ramps from 1/2 at the border to full; outside it a faint halo
  // (at most 0.25) blurs the edge without reaching lesion density.
  const x = (f - tau) / plan.softness;
  if (x <= -1) return base;
  const alpha = x < 0 ? 0.25 * (1 + x) : 0.5 + 0.5 * x;
  let t = plan.ggoHu + 70 * texture;
  // Consolidation sets in where the field passes kappa, shifted by a patchy field so that it
  // forms irregular islands rather than the centre of every blob.
  const g = f + 0.25 * patch;
  if (g > kappa - plan.softness) {
    const beta = clamp(0.5 + (g - kappa) / (2 * plan.softness), 0, 1);
    t += beta * (plan.consolidationHu + 30 * texture - t);
  }
  return base + (alpha >= 1 ? 1 : alpha) * (t - base);
}
