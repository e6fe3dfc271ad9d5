/**
 * Smooth random fields for texture and organic shapes: value noise on a regular 3D lattice,
 * interpolated with smoothstep weights. The lattice covers a box in anatomical millimetres and
 * wraps around (the field is periodic), so shifted look-ups give independent-looking fields.
 *
 * For speed the 3D field is sampled one axial plane at a time: `planeAt(w)` interpolates along z
 * once into a 2D lattice, and `sample2(plane, u, v)` costs four look-ups per voxel.
 */
import type { PhantomRng } from './rng.js';

export interface Box3 {
  readonly u0: number;
  readonly u1: number;
  readonly v0: number;
  readonly v1: number;
  readonly w0: number;
  readonly w1: number;
}

/** One axial plane of a lattice field (values at lattice (u, v) nodes). */
export interface NoisePlane {
  readonly values: Float32Array;
  readonly nu: number;
  readonly nv: number;
  readonly u0: number;
  readonly v0: number;
  readonly inv: number;
}

function smooth(t: number): number {
  return t * t * (3 - 2 * t);
}

export class LatticeNoise3 {
  readonly nu: number;
  readonly nv: number;
  readonly nw: number;
  private readonly values: Float32Array;
  private readonly inv: number;

  /** Values uniform in [-1, 1] at lattice nodes `step` mm apart over `box`. */
  constructor(
    rng: PhantomRng,
    readonly box: Box3,
    readonly step: number,
  ) {
    this.inv = 1 / step;
    this.nu = Math.max(2, Math.ceil((box.u1 - box.u0) / step) + 2);
    this.nv = Math.max(2, Math.ceil((box.v1 - box.v0) / step) + 2);
    this.nw = Math.max(2, Math.ceil((box.w1 - box.w0) / step) + 2);
    this.values = new Float32Array(this.nu * this.nv * this.nw);
    for (let i = 0; i < this.values.length; i++) this.values[i] = rng.next() * 2 - 1;
  }

  /** The 2D lattice of the axial plane at height `w` (mm). */
  planeAt(w: number): NoisePlane {
    const fw = (w - this.box.w0) * this.inv;
    const iw = Math.floor(fw);
    const tw = smooth(fw - iw);
    const plane = this.nu * this.nv;
    const out = new Float32Array(plane);
    const a = wrap(iw, this.nw) * plane;
    const b = wrap(iw + 1, this.nw) * plane;
    for (let i = 0; i < plane; i++) {
      const va = this.values[a + i] as number;
      out[i] = va + ((this.values[b + i] as number) - va) * tw;
    }
    return { values: out, nu: this.nu, nv: this.nv, u0: this.box.u0, v0: this.box.v0, inv: this.inv };
  }

  /** The field at one point (trilinear; for placement decisions, not for voxel loops). */
  at(u: number, v: number, w: number): number {
    const fu = (u - this.box.u0) * this.inv;
    const fv = (v - this.box.v0) * this.inv;
    const fw = (w - this.box.w0) * this.inv;
    const iu = Math.floor(fu);
    const iv = Math.floor(fv);
    const iw = Math.floor(fw);
    const tu = smooth(fu - iu);
    const tv = smooth(fv - iv);
    const tw = smooth(fw - iw);
    const nu = this.nu;
    const plane = nu * this.nv;
    const val = (du: number, dv: number, dw: number): number =>
      this.values[wrap(iw + dw, this.nw) * plane + wrap(iv + dv, this.nv) * nu + wrap(iu + du, nu)] as number;
    const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;
    const z0 = lerp(lerp(val(0, 0, 0), val(1, 0, 0), tu), lerp(val(0, 1, 0), val(1, 1, 0), tu), tv);
    const z1 = lerp(lerp(val(0, 0, 1), val(1, 0, 1), tu), lerp(val(0, 1, 1), val(1, 1, 1), tu), tv);
    return lerp(z0, z1, tw);
  }
}

function wrap(i: number, n: number): number {
  const m = i % n;
  return m < 0 ? m + n : m;
}

/** Samples a noise plane at (u, v) mm, bilinear with smoothstep weights (periodic). */
export function sample2(p: NoisePlane, u: number, v: number): number {
  const fu = (u - p.u0) * p.inv;
  const fv = (v - p.v0) * p.inv;
  const iu = Math.floor(fu);
  const iv = Math.floor(fv);
  let tu = fu - iu;
  let tv = fv - iv;
  tu = tu * tu * (3 - 2 * tu);
  tv = tv * tv * (3 - 2 * tv);
  const nu = p.nu;
  const nv = p.nv;
  let u0 = iu % nu;
  if (u0 < 0) u0 += nu;
  const u1 = u0 + 1 === nu ? 0 : u0 + 1;
  let v0 = iv % nv;
  if (v0 < 0) v0 += nv;
  const r0 = v0 * nu;
  const r1 = (v0 + 1 === nv ? 0 : v0 + 1) * nu;
  const vals = p.values;
  const a = vals[r0 + u0] as number;
  const b = vals[r0 + u1] as number;
  const c = vals[r1 + u0] as number;
  const d = vals[r1 + u1] as number;
  const top = a + (b - a) * tu;
  const bottom = c + (d - c) * tu;
  return top + (bottom - top) * tv;
}
