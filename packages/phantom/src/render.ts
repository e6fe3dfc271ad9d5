/**
 * Renders a scene one axial plane at a time into preallocated typed arrays: no per-voxel
 * allocation, so a 700 x 512 x 512 scan costs its output arrays plus a few plane buffers.
 */
import { FAR, paintBody } from './body.js';
import { paintBones } from './bones.js';
import type { Fields } from './fields.js';
import type { PlaneGrid } from './geometry.js';
import { indexRange } from './geometry.js';
import { type LesionPlan, lesionField, lesionHu, posteriorness } from './lesions.js';
import { LEFT_LUNG, lungSd, lungSlice, MAX_DEPTH, RIGHT_LUNG } from './lungs.js';
import { sample2 } from './noise.js';
import type { Patient } from './patient.js';
import { coverage } from './shapes.js';
import { paintTubes, type TubeSet } from './tubes.js';

export interface Scene {
  readonly patient: Patient;
  readonly fields: Fields;
  /** Tubes painted before the lungs (mediastinal vessels, oesophagus, clavicles). */
  readonly before: TubeSet;
  /** Tubes painted after the lungs and lesions (pulmonary vessels, airways). */
  readonly after: TubeSet;
  /** The tubes that the lung mask leaves out (trachea, main bronchi), for the sizing pass. */
  readonly mainAirways: TubeSet;
  readonly lesions: LesionPlan;
}

/** Per-plane working buffers. */
export interface PlaneBuffers {
  readonly hu: Float32Array;
  readonly sd: Float32Array;
  readonly cavitySd: Float32Array;
  readonly field: Float32Array;
}

export function planeBuffers(grid: PlaneGrid): PlaneBuffers {
  const n = grid.rows * grid.cols;
  return { hu: new Float32Array(n), sd: new Float32Array(n), cavitySd: new Float32Array(n), field: new Float32Array(n) };
}

/** A tube index slice for one plane. */
export interface TubeRefs {
  readonly ids: Int32Array;
  readonly from: number;
  readonly to: number;
}

/** Column and row ranges that can hold lung. */
function lungWindow(p: Patient, grid: PlaneGrid): { c0: number; c1: number; r0: number; r1: number } {
  const cav = p.cavity;
  const m = p.lungs.wobble + 2 * grid.px;
  const [c0, c1] = indexRange(grid.u0, grid.du, grid.cols, -cav.a - m, cav.a + m);
  const [r0, r1] = indexRange(grid.v0, grid.dv, grid.rows, cav.cv - cav.b - m, cav.cv + cav.b + m);
  return { c0, c1, r0, r1 };
}

/**
 * Lung labels and signed distances of one plane (label 0 outside; sd = MAX_DEPTH outside the
 * window that can hold lung).
 */
export function lungPlane(scene: Scene, grid: PlaneGrid, w: number, label: Uint8Array, sd: Float32Array): void {
  const p = scene.patient;
  label.fill(0);
  sd.fill(MAX_DEPTH);
  const ls = lungSlice(p, scene.fields, w);
  if (ls.apexScale === 0) return;
  const { c0, c1, r0, r1 } = lungWindow(p, grid);
  for (let row = r0; row <= r1; row++) {
    const v = grid.v0 + row * grid.dv;
    const base = row * grid.cols;
    for (let col = c0; col <= c1; col++) {
      const u = grid.u0 + col * grid.du;
      const s = lungSd(ls, u, v);
      sd[base + col] = s;
      if (s <= 0) label[base + col] = u >= 0 ? LEFT_LUNG : RIGHT_LUNG;
    }
  }
}

/**
 * The sizing pass: lung labels and disease field of one plane, without painting anything. Pushes
 * the field values of lung voxels into `collect`.
 */
export function fieldPlane(
  scene: Scene,
  grid: PlaneGrid,
  w: number,
  buf: PlaneBuffers,
  label: Uint8Array,
  airways: TubeRefs,
  collect: (f: number) => void,
): void {
  const p = scene.patient;
  lungPlane(scene, grid, w, label, buf.sd);
  paintTubes(scene.mainAirways, airways.ids, airways.from, airways.to, grid, w, buf.hu, label);
  lesionField(scene.lesions, p, grid, w, buf.sd, 0, scene.fields.coarse.planeAt(w), scene.fields.medium.planeAt(w), buf.field);
  const n = grid.rows * grid.cols;
  for (let i = 0; i < n; i++) if ((label[i] as number) > 0) collect(buf.field[i] as number);
}

/**
 * Paints one full plane in HU (before noise) into `buf.hu`, and the lung and infection masks.
 * `tau` is the lesion threshold and `kappa` the consolidation threshold of the field.
 */
export function renderPlane(
  scene: Scene,
  grid: PlaneGrid,
  w: number,
  buf: PlaneBuffers,
  label: Uint8Array,
  infection: Uint8Array,
  before: TubeRefs,
  after: TubeRefs,
  tau: number,
  kappa: number,
): void {
  const p = scene.patient;
  const fields = scene.fields;
  const tex = fields.fine.planeAt(w);
  const coarse = fields.coarse.planeAt(w);
  const hu = buf.hu;
  hu.fill(-1000);
  infection.fill(0);
  paintBody(p, grid, w, hu, buf.cavitySd, tex, coarse);
  paintBones(p, grid, w, hu, buf.cavitySd, tex);
  paintTubes(scene.before, before.ids, before.from, before.to, grid, w, hu);
  lungPlane(scene, grid, w, label, buf.sd);
  const px = grid.px;
  const sdLimit = 0.5 * px;
  const medium = fields.medium.planeAt(w);
  lesionField(scene.lesions, p, grid, w, buf.sd, sdLimit, coarse, medium, buf.field);
  const L = p.lungs;
  const { c0, c1, r0, r1 } = lungWindow(p, grid);
  for (let row = r0; row <= r1; row++) {
    const v = grid.v0 + row * grid.dv;
    const parenchyma = L.huFront + (L.huBack - L.huFront) * posteriorness(p, v);
    const base = row * grid.cols;
    for (let col = c0; col <= c1; col++) {
      const idx = base + col;
      const s = buf.sd[idx] as number;
      if (s >= sdLimit || (buf.cavitySd[idx] as number) === FAR) continue;
      const u = grid.u0 + col * grid.du;
      const m = coverage(s, px);
      const t = sample2(tex, u + 97, v - 53);
      const f = buf.field[idx] as number;
      const value =
        f <= tau - scene.lesions.softness
          ? parenchyma + 12 * t
          : lesionHu(
              scene.lesions,
              parenchyma + 12 * t,
              f,
              tau,
              kappa,
              sample2(tex, u - 61, v + 43),
              sample2(coarse, u + 37, v - 141),
            );
      hu[idx] = (hu[idx] as number) + m * (value - (hu[idx] as number));
      if ((label[idx] as number) > 0 && f >= tau) infection[idx] = 1;
    }
  }
  paintTubes(scene.after, after.ids, after.from, after.to, grid, w, hu, label, infection);
}

/** Smooths white noise in place with a separable [1 2 1]/4 kernel (edges clamped). */
export function smoothNoise(noise: Float32Array, tmp: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const a = noise[o + (c > 0 ? c - 1 : c)] as number;
      const b = noise[o + c] as number;
      const d = noise[o + (c < cols - 1 ? c + 1 : c)] as number;
      tmp[o + c] = 0.25 * a + 0.5 * b + 0.25 * d;
    }
  }
  for (let r = 0; r < rows; r++) {
    const up = (r > 0 ? r - 1 : r) * cols;
    const o = r * cols;
    const down = (r < rows - 1 ? r + 1 : r) * cols;
    for (let c = 0; c < cols; c++) {
      noise[o + c] = 0.25 * (tmp[up + c] as number) + 0.5 * (tmp[o + c] as number) + 0.25 * (tmp[down + c] as number);
    }
  }
}

/** Standard deviation of unit white noise after `smoothNoise` (3/8). */
export const SMOOTHED_NOISE_SD = 0.375;
