/**
 * Tubes: straight pieces with a radius, an outer value and an optional inner (lumen or marrow)
 * value. Vessels, airways, the aorta, the oesophagus and the clavicles are all tubes. They are
 * cut into short pieces, indexed by height, and painted one axial plane at a time with
 * anti-aliased edges; a piece thinner than a pixel is drawn a pixel wide with its contrast scaled
 * by its area, which is what partial volume does.
 */
import type { PlaneGrid } from './geometry.js';
import { indexRange } from './geometry.js';
import type { Vec3 } from './shapes.js';

export interface TubeStyle {
  /** Value of the wall (or of the whole tube when solid). */
  readonly outerHu: number;
  /** Value inside, within `innerFraction * r` of the axis; ignored when innerFraction is 0. */
  readonly innerHu: number;
  readonly innerFraction: number;
  /** Airways that the lung mask leaves out (trachea and main bronchi). */
  readonly excludeFromLung: boolean;
}

export const STYLES = {
  vessel: { outerHu: 40, innerHu: 40, innerFraction: 0, excludeFromLung: false },
  greatVessel: { outerHu: 42, innerHu: 42, innerFraction: 0, excludeFromLung: false },
  bronchus: { outerHu: 10, innerHu: -1000, innerFraction: 0.72, excludeFromLung: false },
  mainAirway: { outerHu: 20, innerHu: -1000, innerFraction: 0.8, excludeFromLung: true },
  oesophagus: { outerHu: 35, innerHu: -850, innerFraction: 0.25, excludeFromLung: false },
  bone: { outerHu: 950, innerHu: 320, innerFraction: 0.6, excludeFromLung: false },
} as const satisfies Record<string, TubeStyle>;

/** A set of tube pieces, in insertion order (later pieces paint over earlier ones). */
export class TubeSet {
  private readonly list: number[] = [];
  private readonly styles: TubeStyle[] = [];
  private built: Float64Array | undefined;
  private styleOf: TubeStyle[] = [];

  /** Number of values stored per piece: a (3), b (3), r. */
  static readonly STRIDE = 7;

  constructor(readonly maxPiece = 8) {}

  /** Adds the tube from a to b; long tubes are cut into pieces of at most `maxPiece` mm. */
  add(a: Vec3, b: Vec3, r: number, style: TubeStyle): void {
    if (!(r > 0)) return;
    const d0 = b[0] - a[0];
    const d1 = b[1] - a[1];
    const d2 = b[2] - a[2];
    const len = Math.sqrt(d0 * d0 + d1 * d1 + d2 * d2);
    const n = Math.max(1, Math.ceil(len / this.maxPiece));
    for (let i = 0; i < n; i++) {
      const t0 = i / n;
      const t1 = (i + 1) / n;
      this.list.push(a[0] + d0 * t0, a[1] + d1 * t0, a[2] + d2 * t0, a[0] + d0 * t1, a[1] + d1 * t1, a[2] + d2 * t1, r);
      this.styles.push(style);
    }
    this.built = undefined;
  }

  /** Adds a polyline through `points` (consecutive pieces share their ends). */
  addPath(points: readonly Vec3[], r: number, style: TubeStyle): void {
    for (let i = 0; i + 1 < points.length; i++) this.add(points[i] as Vec3, points[i + 1] as Vec3, r, style);
  }

  get size(): number {
    return this.styles.length;
  }

  data(): Float64Array {
    if (this.built === undefined) {
      this.built = Float64Array.from(this.list);
      this.styleOf = this.styles.slice();
    }
    return this.built;
  }

  style(i: number): TubeStyle {
    this.data();
    return this.styleOf[i] as TubeStyle;
  }

  /**
   * For each of `count` planes at heights w0 + k*dw, the pieces that can touch it (within their
   * radius plus `halfSlab`): a CSR index (offsets of length count + 1, then piece ids).
   */
  index(w0: number, dw: number, count: number, halfSlab: number): { offsets: Int32Array; ids: Int32Array } {
    const d = this.data();
    const n = this.size;
    const counts = new Int32Array(count + 1);
    const ranges = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const o = i * TubeSet.STRIDE;
      const r = (d[o + 6] as number) + halfSlab;
      const lo = Math.min(d[o + 2] as number, d[o + 5] as number) - r;
      const hi = Math.max(d[o + 2] as number, d[o + 5] as number) + r;
      const [k0, k1] = indexRange(w0, dw, count, lo, hi);
      ranges[2 * i] = k0;
      ranges[2 * i + 1] = k1;
      for (let k = k0; k <= k1; k++) counts[k + 1] = (counts[k + 1] as number) + 1;
    }
    for (let k = 0; k < count; k++) counts[k + 1] = (counts[k + 1] as number) + (counts[k] as number);
    const ids = new Int32Array(counts[count] as number);
    const fill = counts.slice(0, count);
    for (let i = 0; i < n; i++) {
      for (let k = ranges[2 * i] as number; k <= (ranges[2 * i + 1] as number); k++) {
        ids[fill[k] as number] = i;
        fill[k] = (fill[k] as number) + 1;
      }
    }
    return { offsets: counts, ids };
  }
}

/**
 * Paints pieces `ids[from..to)` of `set` into the plane at height w: first every piece's outer
 * value, then every lumen (or marrow), so that joined pieces of one airway keep an open lumen.
 * `label`, when given, is cleared (with `infection`) where a piece marked excludeFromLung covers a
 * pixel by half or more.
 */
export function paintTubes(
  set: TubeSet,
  ids: Int32Array,
  from: number,
  to: number,
  grid: PlaneGrid,
  w: number,
  hu: Float32Array,
  label?: Uint8Array,
  infection?: Uint8Array,
): void {
  paintPass(set, ids, from, to, grid, w, hu, false, label, infection);
  paintPass(set, ids, from, to, grid, w, hu, true);
}

function paintPass(
  set: TubeSet,
  ids: Int32Array,
  from: number,
  to: number,
  grid: PlaneGrid,
  w: number,
  hu: Float32Array,
  inner: boolean,
  label?: Uint8Array,
  infection?: Uint8Array,
): void {
  const d = set.data();
  const px = grid.px;
  const hs = grid.halfSlab;
  const half = 0.5 * px;
  for (let k = from; k < to; k++) {
    const i = ids[k] as number;
    const o = i * TubeSet.STRIDE;
    const style = set.style(i);
    const rFull = d[o + 6] as number;
    const r = inner ? rFull * style.innerFraction : rFull;
    if (!(r > 0)) continue;
    const value = inner ? style.innerHu : style.outerHu;
    const ax = d[o] as number;
    const ay = d[o + 1] as number;
    const az = d[o + 2] as number;
    const dx = (d[o + 3] as number) - ax;
    const dy = (d[o + 4] as number) - ay;
    const dz = (d[o + 5] as number) - az;
    const rDraw = r < half ? half : r;
    // Partial volume: in the plane, a tube thinner than a pixel keeps its area; across the slab,
    // a tube lying flat fills only about 2r of the slab's thickness 2*hs.
    const horizontal = Math.sqrt((dx * dx + dy * dy) / (dx * dx + dy * dy + dz * dz || 1));
    const fill = hs > 0 && r < hs * horizontal ? r / (hs * horizontal) : 1;
    const contrast = (r < half ? (r / half) * (r / half) : 1) * fill;
    const exclude = !inner && style.excludeFromLung && label !== undefined;
    const reach = rDraw + hs;
    // Part of the piece within reach of the plane.
    let t0 = 0;
    let t1 = 1;
    if (Math.abs(dz) > 1e-9) {
      const ta = (w - reach - az) / dz;
      const tb = (w + reach - az) / dz;
      t0 = Math.max(0, Math.min(ta, tb));
      t1 = Math.min(1, Math.max(ta, tb));
      if (t0 > t1) continue;
    } else if (Math.abs(w - az) > reach) continue;
    const x0 = ax + dx * t0;
    const x1 = ax + dx * t1;
    const y0 = ay + dy * t0;
    const y1 = ay + dy * t1;
    const m = rDraw + px;
    const [c0, c1] = indexRange(grid.u0, grid.du, grid.cols, Math.min(x0, x1) - m, Math.max(x0, x1) + m);
    const [r0, r1] = indexRange(grid.v0, grid.dv, grid.rows, Math.min(y0, y1) - m, Math.max(y0, y1) + m);
    if (c0 > c1 || r0 > r1) continue;
    const len2 = dx * dx + dy * dy + dz * dz;
    const inv = len2 > 0 ? 1 / len2 : 0;
    const pz = w - az;
    for (let row = r0; row <= r1; row++) {
      const py = grid.v0 + row * grid.dv - ay;
      const base = row * grid.cols;
      for (let col = c0; col <= c1; col++) {
        const pxu = grid.u0 + col * grid.du - ax;
        let t = (pxu * dx + py * dy + pz * dz) * inv;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const eu = pxu - dx * t;
        const ev = py - dy * t;
        let ez = Math.abs(pz - dz * t) - hs;
        if (ez < 0) ez = 0;
        const dist = Math.sqrt(eu * eu + ev * ev + ez * ez);
        let mo = (rDraw - dist) / px + 0.5;
        if (mo <= 0) continue;
        if (mo > 1) mo = 1;
        const idx = base + col;
        const v = hu[idx] as number;
        hu[idx] = v + mo * contrast * (value - v);
        if (exclude && mo >= 0.5 && label !== undefined) {
          label[idx] = 0;
          if (infection !== undefined) infection[idx] = 0;
        }
      }
    }
  }
}
