/**
 * Bones of one axial plane: ribs (sloping arcs around the cavity, so each plane cuts short
 * curved pieces of them, with costal cartilage at the front), the thoracic spine (vertebral body
 * with cortex, discs, canal and posterior elements), the sternum and the scapulae.
 */
import type { PlaneGrid } from './geometry.js';
import { indexRange } from './geometry.js';
import type { NoisePlane } from './noise.js';
import { sample2 } from './noise.js';
import type { Patient } from './patient.js';
import { coverage, ellipseSd, smoothstep } from './shapes.js';

const PHI0 = 0.12 * Math.PI;

/** How far round (0 posterior .. 1 anterior) each rib reaches, and where cartilage starts. */
function ribExtent(i: number): { end: number; cartilage: number } {
  if (i < 7) return { end: 0.93, cartilage: 0.74 };
  if (i < 10) return { end: 0.8, cartilage: 0.62 };
  return { end: 0.5, cartilage: 2 };
}

/** How far rib i descends from its back end to its front end (mm): lower ribs slope more. */
function ribDrop(drop: number, i: number): number {
  return drop * Math.min(1.2, 0.55 + 0.06 * i);
}

/** Height of rib i at fraction t (0 back .. 1 front) of its course. */
function ribHeight(firstW: number, gap: number, drop: number, i: number, t: number): number {
  return firstW - i * gap - ribDrop(drop, i) * (1.35 * t - 0.35 * t * t);
}

function boneValue(e: number, marrow: number): number {
  // e: normalised radius in the bone's cross-section (0 centre, 1 surface).
  return marrow + (950 - marrow) * smoothstep(0.45, 0.7, e);
}

export function paintBones(
  p: Patient,
  grid: PlaneGrid,
  w: number,
  hu: Float32Array,
  cavitySd: Float32Array,
  tex: NoisePlane,
): void {
  paintRibsAndScapulae(p, grid, w, hu, cavitySd);
  paintSpine(p, grid, w, hu, tex);
  paintSternum(p, grid, w, hu);
}

function paintRibsAndScapulae(p: Patient, grid: PlaneGrid, w: number, hu: Float32Array, cavitySd: Float32Array): void {
  const R = p.ribs;
  const px = grid.px;
  // Ribs are wide in z already: half the slab's blur keeps their in-plane arcs short.
  const hs = 0.5 * grid.halfSlab;
  const cv = p.cavity.cv;
  const bandLo = R.offset - R.halfDepth - px;
  const scapLo = R.offset + R.halfDepth + 9;
  const scapHi = scapLo + 5;
  const scapTop = R.firstW + 4;
  const scapBottom = R.firstW - 125;
  const hasScapula = w < scapTop && w > scapBottom;
  const bandHi = (hasScapula ? scapHi : R.offset + R.halfDepth) + px;
  // Rib heights reachable in this plane.
  const reach = R.halfHeight + hs + px;
  let firstRib = -1;
  let lastRib = -1;
  for (let i = 0; i < R.count; i++) {
    const top = R.firstW - i * R.gap;
    const bottom = top - ribDrop(R.drop, i);
    if (w < top + reach && w > bottom - reach) {
      if (firstRib < 0) firstRib = i;
      lastRib = i;
    }
  }
  if (firstRib < 0 && !hasScapula) return;
  for (let row = 0; row < grid.rows; row++) {
    const v = grid.v0 + row * grid.dv;
    const base = row * grid.cols;
    for (let col = 0; col < grid.cols; col++) {
      const idx = base + col;
      const sd = cavitySd[idx] as number;
      if (sd < bandLo || sd > bandHi) continue;
      const u = grid.u0 + col * grid.du;
      const phi = Math.atan2(Math.abs(u), v - cv);
      const t = (phi - PHI0) / (Math.PI - PHI0);
      let value = hu[idx] as number;
      if (firstRib >= 0 && t > -0.02) {
        const er = (sd - R.offset) / R.halfDepth;
        if (er > -1.3 && er < 1.3) {
          for (let i = firstRib; i <= lastRib; i++) {
            const ext = ribExtent(i);
            if (t > ext.end + 0.02) continue;
            let ez = Math.abs(w - ribHeight(R.firstW, R.gap, R.drop, i, t)) - hs;
            if (ez < 0) ez = 0;
            ez /= R.halfHeight;
            const e = Math.sqrt(er * er + ez * ez);
            if (e > 1.3) continue;
            // Ends taper off over a short stretch.
            const endFade = smoothstep(ext.end + 0.02, ext.end - 0.02, t) * smoothstep(-0.02, 0.02, t);
            const m = coverage((e - 1) * R.halfDepth, px) * endFade;
            if (m <= 0) continue;
            const target = t > ext.cartilage ? 140 : boneValue(e, 300);
            value += m * (target - value);
          }
        }
      }
      if (hasScapula && t > 0.1 && t < 0.45) {
        const inBand = Math.min(coverage(scapLo - sd, px), coverage(sd - scapHi, px));
        const fade =
          smoothstep(0.1, 0.16, t) *
          smoothstep(0.45, 0.38, t) *
          smoothstep(scapBottom, scapBottom + 25, w) *
          smoothstep(scapTop, scapTop - 10, w);
        const m = inBand * fade;
        if (m > 0) value += m * (650 - value);
      }
      hu[idx] = value;
    }
  }
}

function paintSpine(p: Patient, grid: PlaneGrid, w: number, hu: Float32Array, tex: NoisePlane): void {
  const S = p.spine;
  const px = grid.px;
  if (w > p.lungs.apexW + 200) return;
  const r = S.r * (1 + 0.12 * Math.min(1, Math.max(0, (p.lungs.apexW - w) / 250)));
  const phase = (((w - S.discPhase) % S.discPeriod) + S.discPeriod) % S.discPeriod;
  const disc = phase < S.discThickness;
  const discFade = disc ? 1 : 0;
  const canalV = S.v + r + 8.5;
  const rc = 7.5;
  const spinousTip = p.body.flatBack - Math.max(6, 0.6 * p.body.fatBack);
  const spinousHalf = Math.max(4, (spinousTip - canalV - rc) / 2);
  const spinousV = canalV + rc + spinousHalf;
  const transverse = phase > S.discThickness + 0.15 * S.discPeriod && phase < S.discThickness + 0.55 * S.discPeriod;
  const spinous = phase > S.discThickness && phase < S.discThickness + 0.65 * S.discPeriod;
  const [c0, c1] = indexRange(grid.u0, grid.du, grid.cols, -48, 48);
  const [r0, r1] = indexRange(grid.v0, grid.dv, grid.rows, S.v - r - 4, spinousTip + 4);
  for (let row = r0; row <= r1; row++) {
    const v = grid.v0 + row * grid.dv;
    const base = row * grid.cols;
    for (let col = c0; col <= c1; col++) {
      const u = grid.u0 + col * grid.du;
      const idx = base + col;
      let value = hu[idx] as number;
      const n = sample2(tex, u + 31, v - 17);
      // Vertebral body (or disc).
      const sdBody = ellipseSd(u, v - S.v, r * 1.1, r);
      const mb = coverage(sdBody, px);
      if (mb > 0) {
        const bone = sdBody > -2.2 ? 750 : 250 + 45 * n;
        const target = discFade ? 85 + 5 * n : bone;
        value += mb * (target - value);
      }
      // Posterior elements: pedicles, lamina, spinous and transverse processes.
      const cu = u;
      const cvv = v - canalV;
      const rr = Math.sqrt(cu * cu + cvv * cvv);
      let elem = 0;
      if (cvv > -rc * 0.4) elem = Math.max(elem, Math.min(coverage(rc - rr, px), coverage(rr - rc - 5, px)));
      if (v > S.v + r - 5 && v < canalV && Math.abs(u) > rc - 1 && Math.abs(u) < rc + 5) elem = Math.max(elem, 1);
      if (spinous) elem = Math.max(elem, coverage(ellipseSd(u, v - spinousV, 4.5, spinousHalf), px));
      if (transverse) {
        // Transverse processes point back and out at about 25 degrees.
        const tu = Math.abs(u) - (rc + 14);
        const tv = v - (canalV + 4);
        const along = tu * 0.906 + tv * 0.423;
        const across = -tu * 0.423 + tv * 0.906;
        elem = Math.max(elem, coverage(ellipseSd(along, across, 11, 4.5), px));
      }
      if (elem > 0) value += elem * (700 + 60 * n - value);
      // Spinal canal (CSF).
      const mcanal = coverage(rr - rc, px);
      if (mcanal > 0) value += mcanal * (15 - value);
      hu[idx] = value;
    }
  }
}

function paintSternum(p: Patient, grid: PlaneGrid, w: number, hu: Float32Array): void {
  const st = p.sternum;
  if (w < st.fromW || w > st.toW) return;
  const px = grid.px;
  const f = (w - st.fromW) / (st.toW - st.fromW);
  const au = 10 + 10 * f;
  const av = 5.5 + 1.5 * f;
  const cvS = p.cavity.cv - p.cavity.b - av - 1;
  const fade = smoothstep(st.fromW, st.fromW + 8, w) * smoothstep(st.toW, st.toW - 8, w);
  const [c0, c1] = indexRange(grid.u0, grid.du, grid.cols, -au - 2 * px, au + 2 * px);
  const [r0, r1] = indexRange(grid.v0, grid.dv, grid.rows, cvS - av - 2 * px, cvS + av + 2 * px);
  for (let row = r0; row <= r1; row++) {
    const v = grid.v0 + row * grid.dv;
    for (let col = c0; col <= c1; col++) {
      const u = grid.u0 + col * grid.du;
      const idx = row * grid.cols + col;
      const sd = ellipseSd(u, v - cvS, au, av);
      const m = coverage(sd, px) * fade;
      if (m <= 0) continue;
      const e = Math.sqrt((u / au) * (u / au) + ((v - cvS) / av) * ((v - cvS) / av));
      const value = hu[idx] as number;
      hu[idx] = value + m * (boneValue(e, 320) - value);
    }
  }
}
