/**
 * Soft tissues of one axial plane: the table, the body outline with skin, subcutaneous fat and
 * muscle, the thoracic cavity filled with mediastinal fat (or upper-abdominal organs below the
 * diaphragm), and the heart. Bones, lungs and tubes are painted on top by their own modules.
 */
import type { PlaneGrid } from './geometry.js';
import type { NoisePlane } from './noise.js';
import { sample2 } from './noise.js';
import type { Patient } from './patient.js';
import { coverage, ellipseSd } from './shapes.js';

/** Outside the body, `cavitySd` holds this. */
export const FAR = 1e6;

function domeHeight(p: Patient, side: 1 | -1, u: number, v: number): number {
  const L = p.lungs;
  const du = side * u < 45 ? 0 : u - side * 45;
  const dv = v - (p.cavity.cv - 10);
  const kv = dv < 0 ? L.domeKvFront : L.domeKvBack;
  const w = (side === 1 ? L.domeTopLeft : L.domeTopRight) - L.domeKu * du * du - kv * dv * dv;
  return w < L.recessW ? L.recessW : w;
}

/** Upper-abdomen content below the diaphragm: liver, stomach with its gas, spleen. */
function abdomenHu(p: Patient, u: number, v: number, w: number, tex: number): number {
  const cv = p.cavity.cv;
  const top = p.lungs.domeTopLeft;
  // Gas bubble in the gastric fundus.
  {
    const gu = (u - 55) / 26;
    const gv = (v - (cv - 30)) / 20;
    const gw = (w - (top - 14)) / 11;
    if (gu * gu + gv * gv + gw * gw < 1) return -1000;
  }
  if (u > 18 - 0.35 * (v - cv)) {
    const su = (u - 72) / 32;
    const sv = (v - (cv + 42)) / 26;
    if (su * su + sv * sv < 1) return 48 + 4 * tex;
    const tu = (u - 50) / 48;
    const tv = (v - (cv - 20)) / 42;
    if (tu * tu + tv * tv < 1) return 22 + 6 * tex;
    return p.huFat * 0.4 + 10 * tex;
  }
  return p.huLiver + 5 * tex;
}

/**
 * Paints table, body layers, cavity content and heart into `hu` (which should hold air) and
 * stores the signed distance to the cavity outline in `cavitySd` (FAR outside the body).
 */
export function paintBody(
  p: Patient,
  grid: PlaneGrid,
  w: number,
  hu: Float32Array,
  cavitySd: Float32Array,
  tex: NoisePlane,
  coarse: NoisePlane,
): void {
  const px = grid.px;
  const { a, b, flatBack, skin, fatFront, fatBack, fatSide } = p.body;
  const cav = p.cavity;
  const L = p.lungs;
  const tb = p.table;
  const aboveApex = w > L.apexW - 4;
  const h = p.heart;
  const tz = (w - h.cw) / h.aw;
  const hs = Math.abs(tz) < 1 ? Math.sqrt(1 - tz * tz) : 0;
  const hau = h.au * hs;
  const hav = h.av * hs;
  // Columns outside an inflated outline (wobble, a pixel and some slack) are air or table.
  const margin = 2.5 + px + 3;
  for (let row = 0; row < grid.rows; row++) {
    const v = grid.v0 + row * grid.dv;
    const base = row * grid.cols;
    const ve = v / (b + margin);
    const half = ve * ve < 1 && v < flatBack + margin ? (a + margin) * Math.sqrt(1 - ve * ve) : -1;
    for (let col = 0; col < grid.cols; col++) {
      const u = grid.u0 + col * grid.du;
      const idx = base + col;
      let value = -1000;
      // Table: a curved band under the patient, two bright shells around a light core.
      if (u > -235 && u < 235) {
        const s = v - (tb.top - tb.curve * u * u);
        if (s > -px && s < tb.thickness + px) {
          const band = Math.min(coverage(-s, px), coverage(s - tb.thickness, px));
          const shell = Math.max(coverage(s - 2.5, px) * coverage(-s, px), coverage(tb.thickness - 2.5 - s, px));
          const t = -250 + 700 * shell;
          value += band * (t - value);
        }
      }
      if (u < -half || u > half) {
        hu[idx] = value;
        cavitySd[idx] = FAR;
        continue;
      }
      const sdBody = Math.max(ellipseSd(u, v, a, b), v - flatBack) + 2.5 * sample2(coarse, 0.3 * u - 150, 0.3 * v + 70);
      if (sdBody >= px) {
        hu[idx] = value;
        cavitySd[idx] = FAR;
        continue;
      }
      const n = sample2(tex, u, v);
      const lateral = (u / a) * (u / a);
      const fat = (fatSide * lateral + (v < 0 ? fatFront : fatBack) * (1 - lateral)) * (1 + 0.25 * sample2(coarse, u, v));
      let t = 30 + 5 * n;
      t += coverage(sdBody + skin, px) * (p.huFat + 8 * n - t);
      t += coverage(sdBody + skin + fat, px) * (p.huMuscle + 6 * n - t);
      // A thin fat plane between the muscle layers.
      const plane = sdBody + skin + fat + 11;
      if (plane > -2 && plane < 2) t += 0.55 * (1 - Math.abs(plane) / 2) * (p.huFat - t);
      const sdCav = ellipseSd(u, v - cav.cv, cav.a, cav.b);
      cavitySd[idx] = sdCav;
      const mc = coverage(sdCav, px);
      if (mc > 0) {
        let fill: number;
        if (aboveApex) fill = 25 + 8 * n;
        else {
          const dia = Math.max(domeHeight(p, 1, u, v), domeHeight(p, -1, u, v));
          fill = w < dia ? abdomenHu(p, u, v, w, n) : p.huFat + 10 + 10 * n;
          if (hau > 0) {
            const mh = coverage(ellipseSd(u - h.cu, v - h.cv, hau, hav), px);
            if (mh > 0) fill += mh * (40 + 4 * n - fill);
          }
        }
        t += mc * (fill - t);
      }
      hu[idx] = value + coverage(sdBody, px) * (t - value);
    }
  }
}
