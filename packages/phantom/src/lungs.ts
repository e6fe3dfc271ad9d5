/**
 * The two lungs as an implicit shape: `lungSd` is an approximate signed distance (mm, negative
 * inside) to the lung on the side of the point (u >= 0: the patient's left lung, label 1;
 * u < 0: the right lung, label 2). The lung is the thoracic cavity minus the mediastinum (heart
 * with its fat, upper mediastinum, spine, descending aorta), above the diaphragm dome of its side
 * and below its apex, with a smooth random wobble of the outline.
 *
 * The right lung is the larger: the heart lies left of the midline and the left dome is lower
 * only by a little. Both taper to a rounded apex, posterior and lateral.
 */
import type { Fields } from './fields.js';
import type { LatticeNoise3, NoisePlane } from './noise.js';
import { sample2 } from './noise.js';
import type { Patient } from './patient.js';
import { ellipseSd } from './shapes.js';

/** Label values of the lung mask. */
export const LEFT_LUNG = 1;
export const RIGHT_LUNG = 2;

/** Everything about one axial plane that the per-voxel lung test needs. */
export interface LungSlice {
  readonly p: Patient;
  readonly w: number;
  /** Scale of the apex ellipse (0: no lung at this height; Infinity: no taper yet). */
  readonly apexScale: number;
  /** Heart cross-section half axes (0 when the plane misses the heart). */
  readonly heartAu: number;
  readonly heartAv: number;
  readonly upperMediastinum: boolean;
  readonly descendingAorta: boolean;
  /** The wobble field in this plane; null for point queries, which use `coarse` directly. */
  readonly wobble: NoisePlane | null;
  readonly coarse: LatticeNoise3;
}

/** Distance (mm) beyond which the pleura is "deep": sd is not refined further away. */
export const MAX_DEPTH = 60;

export function lungSlice(p: Patient, fields: Fields, w: number, forPoints = false): LungSlice {
  const k = (p.lungs.apexW - w) / p.lungs.apexTaper;
  const apexScale = k <= 0 ? 0 : k >= 1 ? Number.POSITIVE_INFINITY : Math.sqrt(k) / (1.0001 - 0.6 * k);
  const tz = (w - p.heart.cw) / p.heart.aw;
  const hs = Math.abs(tz) < 1 ? Math.sqrt(1 - tz * tz) : 0;
  return {
    p,
    w,
    apexScale,
    heartAu: p.heart.au * hs,
    heartAv: p.heart.av * hs,
    upperMediastinum: w >= p.upperMediastinum.fromW,
    descendingAorta: w <= p.aorta.archW,
    wobble: forPoints ? null : fields.coarse.planeAt(w),
    coarse: fields.coarse,
  };
}

/** Height of the diaphragm dome of a side (w, mm) under (u, v), and its slope. */
export function domeAt(p: Patient, side: 1 | -1, u: number, v: number): { w: number; slope: number } {
  const L = p.lungs;
  const du = side * u < 45 ? 0 : u - side * 45;
  const dv = v - (p.cavity.cv - 10);
  const kv = dv < 0 ? L.domeKvFront : L.domeKvBack;
  const top = side === 1 ? L.domeTopLeft : L.domeTopRight;
  const w = top - L.domeKu * du * du - kv * dv * dv;
  if (w <= L.recessW) return { w: L.recessW, slope: 0 };
  const gu = 2 * L.domeKu * du;
  const gv = 2 * kv * dv;
  return { w, slope: Math.sqrt(gu * gu + gv * gv) };
}

/** Approximate signed distance (mm) to the lung on the side of (u, v) in this plane. */
export function lungSd(ls: LungSlice, u: number, v: number): number {
  const p = ls.p;
  if (ls.apexScale === 0) return MAX_DEPTH;
  const side: 1 | -1 = u >= 0 ? 1 : -1;
  const au = side * u;
  const cav = p.cavity;
  // Inside the cavity, on its own side of the anterior junction.
  let sd = ellipseSd(u, v - cav.cv, cav.a, cav.b);
  const junction = p.lungs.junction - au;
  if (junction > sd) sd = junction;
  // Above the dome of its side.
  const L = p.lungs;
  // Flat between the midline and the top of the dome: the heart rests there.
  const du = au < 45 ? 0 : u - side * 45;
  const dv = v - (cav.cv - 10);
  const kv = dv < 0 ? L.domeKvFront : L.domeKvBack;
  let dome = (side === 1 ? L.domeTopLeft : L.domeTopRight) - L.domeKu * du * du - kv * dv * dv;
  let slope = 0.3;
  if (dome <= L.recessW) dome = L.recessW;
  else {
    const gu = 2 * L.domeKu * du;
    const gv = 2 * kv * dv;
    const g = Math.sqrt(gu * gu + gv * gv);
    if (g > slope) slope = g;
  }
  const domeSd = (dome - ls.w) / slope;
  if (domeSd > sd) sd = domeSd;
  // Below the apex: a shrinking ellipse, posterior and lateral.
  if (ls.apexScale !== Number.POSITIVE_INFINITY) {
    const s = ls.apexScale;
    const apex = ellipseSd(au - 0.5 * cav.a, v - (cav.cv + 0.2 * cav.b), 0.65 * cav.a * s, cav.b * s);
    if (apex > sd) sd = apex;
  }
  // Away from the mediastinum.
  if (ls.heartAu > 0) {
    const h = p.heart;
    const hu = u - h.cu;
    const hv = v - h.cv;
    if (Math.abs(hu) < ls.heartAu + MAX_DEPTH && Math.abs(hv) < ls.heartAv + MAX_DEPTH) {
      const c = 5 - ellipseSd(hu, hv, ls.heartAu, ls.heartAv);
      if (c > sd) sd = c;
    }
  }
  if (ls.upperMediastinum) {
    const m = p.upperMediastinum;
    const c = 2 - ellipseSd(u - m.cu, v - m.cv, m.au, m.av);
    if (c > sd) sd = c;
  }
  {
    const sv = v - p.spine.v;
    const c = p.spine.r + 8 - Math.sqrt(u * u + sv * sv);
    if (c > sd) sd = c;
    const cv = v - (p.spine.v + p.spine.r + 8.5);
    const e = 17 - Math.sqrt(u * u + cv * cv);
    if (e > sd) sd = e;
  }
  if (ls.descendingAorta) {
    const a = p.aorta;
    const eu = u - a.descU;
    const ev = v - a.descV;
    const c = a.r + 3 - Math.sqrt(eu * eu + ev * ev);
    if (c > sd) sd = c;
  }
  sd += L.wobble * (ls.wobble === null ? ls.coarse.at(u, v, ls.w) : sample2(ls.wobble, u, v));
  return sd > MAX_DEPTH ? MAX_DEPTH : sd < -MAX_DEPTH ? -MAX_DEPTH : sd;
}

/** Lung label (1 left, 2 right, 0 none) at a point, for placement decisions. */
export function lungLabelAt(p: Patient, fields: Fields, u: number, v: number, w: number): 0 | 1 | 2 {
  return lungSdPoint(p, fields, u, v, w) <= 0 ? (u >= 0 ? LEFT_LUNG : RIGHT_LUNG) : 0;
}

/** `lungSd` at one point (builds the plane; slow, for placement decisions only). */
export function lungSdPoint(p: Patient, fields: Fields, u: number, v: number, w: number): number {
  const ls = pointSlice(p, fields, w);
  return lungSd(ls, u, v);
}

// A one-entry cache: placement code asks many points of one height in a row.
let cacheKey: { p: Patient; fields: Fields; w: number } | undefined;
let cacheSlice: LungSlice | undefined;
function pointSlice(p: Patient, fields: Fields, w: number): LungSlice {
  if (cacheKey !== undefined && cacheSlice !== undefined && cacheKey.p === p && cacheKey.fields === fields && cacheKey.w === w)
    return cacheSlice;
  cacheSlice = lungSlice(p, fields, w, true);
  cacheKey = { p, fields, w };
  return cacheSlice;
}
