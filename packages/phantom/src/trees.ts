/**
 * Branching tubes: the pulmonary arteries and veins, the bronchial tree, and the large
 * mediastinal tubes (aorta, pulmonary trunk, vena cava, oesophagus, clavicles).
 *
 * A tree is grown towards random target points scattered through one lung: at each node the
 * targets are split in two along their widest extent, and a branch steps part of the way towards
 * each half's centroid. Radii follow the territory a branch feeds, r = rTerminal * n^(1/2.6)
 * (close to Murray's law), so the tree thins towards the periphery.
 */
import type { Fields } from './fields.js';
import { lungSdPoint } from './lungs.js';
import type { Patient } from './patient.js';
import type { PhantomRng } from './rng.js';
import type { Vec3 } from './shapes.js';
import { STYLES, type TubeSet, type TubeStyle } from './tubes.js';

/** Uniform random points inside the lung of a side (1 left, -1 right), at least `depth` mm deep. */
export function sampleLungPoints(p: Patient, fields: Fields, rng: PhantomRng, side: 1 | -1, count: number, depth = 1): Vec3[] {
  const out: Vec3[] = [];
  const cav = p.cavity;
  let tries = 0;
  while (out.length < count && tries < count * 200) {
    tries++;
    const u = side * rng.uniform(0, cav.a);
    const v = rng.uniform(cav.cv - cav.b, cav.cv + cav.b);
    const w = rng.uniform(p.lungs.recessW, p.lungs.apexW);
    if (lungSdPoint(p, fields, u, v, w) <= -depth) out.push([u, v, w]);
  }
  return out;
}

interface GrowOptions {
  readonly rTerminal: number;
  readonly exponent: number;
  readonly step: number;
  readonly jitter: number;
  readonly style: TubeStyle;
  /** Stop splitting (and draw nothing further) below this radius. */
  readonly rMin: number;
}

function radiusFor(n: number, o: GrowOptions): number {
  return o.rTerminal * n ** (1 / o.exponent);
}

function centroid(points: readonly Vec3[]): Vec3 {
  let u = 0;
  let v = 0;
  let w = 0;
  for (const q of points) {
    u += q[0];
    v += q[1];
    w += q[2];
  }
  const n = points.length;
  return [u / n, v / n, w / n];
}

function grow(set: TubeSet, rng: PhantomRng, from: Vec3, targets: Vec3[], o: GrowOptions, depth: number): void {
  if (targets.length === 1 || depth > 24) {
    const r = radiusFor(1, o);
    for (const t of targets) if (r >= o.rMin) set.add(from, t, r, o.style);
    return;
  }
  // Split along the widest extent, at the median.
  let best = 0;
  let bestSpan = -1;
  for (let axis = 0; axis < 3; axis++) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const t of targets) {
      const x = t[axis] as number;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (hi - lo > bestSpan) {
      bestSpan = hi - lo;
      best = axis;
    }
  }
  const sorted = targets.slice().sort((a, b) => (a[best] as number) - (b[best] as number));
  const mid = sorted.length >> 1;
  for (const half of [sorted.slice(0, mid), sorted.slice(mid)]) {
    const r = radiusFor(half.length, o);
    if (r < o.rMin) continue;
    const c = centroid(half);
    const f = o.step;
    const len = Math.hypot(c[0] - from[0], c[1] - from[1], c[2] - from[2]);
    const j = o.jitter * len * f;
    const to: Vec3 = [
      from[0] + (c[0] - from[0]) * f + rng.normal(0, j),
      from[1] + (c[1] - from[1]) * f + rng.normal(0, j),
      from[2] + (c[2] - from[2]) * f + rng.normal(0, j),
    ];
    set.add(from, to, r, o.style);
    grow(set, rng, to, half, o, depth + 1);
  }
}

/** A tree from `root` into the given targets, starting with a trunk to 35 % of their centroid. */
export function growTree(set: TubeSet, rng: PhantomRng, root: Vec3, targets: Vec3[], o: GrowOptions): void {
  if (targets.length === 0) return;
  const c = centroid(targets);
  const first: Vec3 = [root[0] + (c[0] - root[0]) * 0.35, root[1] + (c[1] - root[1]) * 0.35, root[2] + (c[2] - root[2]) * 0.35];
  set.add(root, first, radiusFor(targets.length, o), o.style);
  grow(set, rng, first, targets, o, 0);
}

/** Hila and left-atrium ends: where the pulmonary trees start. */
export function treeRoots(p: Patient): {
  arteries: Record<'left' | 'right', Vec3>;
  veins: Record<'left' | 'right', Vec3>;
  bronchi: Record<'left' | 'right', Vec3>;
} {
  const t = p.trachea;
  const h = p.heart;
  return {
    arteries: { right: [-44, t.v - 6, t.carinaW - 22], left: [44, t.v - 2, t.carinaW - 10] },
    veins: { right: [-32, h.cv + 0.55 * h.av, h.cw + 0.25 * h.aw], left: [h.cu + 22, h.cv + 0.55 * h.av, h.cw + 0.35 * h.aw] },
    bronchi: { right: [-40, t.v + 6, t.carinaW - 22], left: [44, t.v + 8, t.carinaW - 36] },
  };
}

/** Pulmonary arteries and veins of both lungs. */
export function pulmonaryVessels(p: Patient, fields: Fields, rng: PhantomRng, set: TubeSet, density = 1): void {
  const roots = treeRoots(p);
  const n = Math.max(8, Math.round(600 * density));
  const o: GrowOptions = { rTerminal: 0.55, exponent: 2.6, step: 0.5, jitter: 0.12, style: STYLES.vessel, rMin: 0.35 };
  for (const [name, side] of [
    ['right', -1],
    ['left', 1],
  ] as const) {
    const rs = rng.fork(`vessels:${name}`);
    growTree(set, rs.fork('artery'), roots.arteries[name], sampleLungPoints(p, fields, rs.fork('artery-targets'), side, n, 2), o);
    growTree(set, rs.fork('vein'), roots.veins[name], sampleLungPoints(p, fields, rs.fork('vein-targets'), side, n, 2), o);
  }
}

/** Trachea, main bronchi (left out of the lung mask) and the bronchial trees. */
export function airways(p: Patient, fields: Fields, rng: PhantomRng, set: TubeSet): void {
  const t = p.trachea;
  const roots = treeRoots(p);
  const carina: Vec3 = [0, t.v + 2, t.carinaW];
  set.add([0, t.v, 400], carina, t.r, STYLES.mainAirway);
  set.add(carina, roots.bronchi.right, t.r * 0.8, STYLES.mainAirway);
  set.add(carina, roots.bronchi.left, t.r * 0.7, STYLES.mainAirway);
  const o: GrowOptions = { rTerminal: 1.2, exponent: 2.6, step: 0.45, jitter: 0.08, style: STYLES.bronchus, rMin: 1.1 };
  for (const [name, side] of [
    ['right', -1],
    ['left', 1],
  ] as const) {
    const rs = rng.fork(`airways:${name}`);
    growTree(set, rs.fork('tree'), roots.bronchi[name], sampleLungPoints(p, fields, rs.fork('targets'), side, 48, 4), o);
  }
}

/** Aorta, pulmonary trunk, superior vena cava, arch branches, oesophagus and clavicles. */
export function mediastinalTubes(p: Patient, set: TubeSet): void {
  const a = p.aorta;
  const h = p.heart;
  const t = p.trachea;
  const top = 400;
  const heartTop = h.cw + h.aw;
  const gv = STYLES.greatVessel;
  // Aorta: ascending, arch (over the left main bronchus), descending along the spine.
  const archTop: Vec3 = [(a.ascU + a.descU) / 2, (a.ascV + a.descV) / 2 - 6, a.archW + 12];
  set.addPath(
    [
      [a.ascU + 6, h.cv - 0.1 * h.av, heartTop - 30],
      [a.ascU, a.ascV, a.archW - 10],
      [a.ascU + 4, a.ascV + 8, a.archW + 6],
      archTop,
      [a.descU + 2, a.descV - 8, a.archW + 6],
      [a.descU, a.descV, a.archW - 8],
      [a.descU - 2, a.descV, p.lungs.recessW - 80],
    ],
    a.r,
    gv,
  );
  // Arch branches.
  set.addPath(
    [
      [a.ascU + 6, a.ascV + 6, a.archW + 8],
      [-14, a.ascV + 4, a.archW + 40],
      [-28, a.ascV + 10, top],
    ],
    6.5,
    gv,
  );
  set.addPath(
    [
      [archTop[0], archTop[1] + 2, archTop[2]],
      [6, a.ascV + 12, top],
    ],
    5,
    gv,
  );
  set.addPath(
    [
      [a.descU, a.descV - 10, a.archW + 8],
      [26, a.descV - 14, a.archW + 40],
      [40, a.descV - 10, top],
    ],
    6,
    gv,
  );
  // Superior vena cava, right of the ascending aorta.
  set.add([a.ascU - 24, a.ascV + 4, heartTop - 12], [a.ascU - 26, a.ascV + 8, top], 10, gv);
  // Pulmonary trunk and the two pulmonary arteries to the hila.
  const roots = treeRoots(p);
  const bif: Vec3 = [8, t.v - 24, t.carinaW - 14];
  set.add([h.cu - 5, h.cv - 0.45 * h.av, heartTop - 18], bif, 13, gv);
  set.addPath([bif, [-12, t.v - 14, t.carinaW - 18], roots.arteries.right], 10, gv);
  set.addPath([bif, [26, t.v - 12, t.carinaW - 6], roots.arteries.left], 10, gv);
  // Oesophagus: behind the trachea, to the stomach below the left dome.
  set.addPath(
    [
      [4, t.v + t.r + 6, top],
      [6, t.v + t.r + 7, t.carinaW],
      [10, p.spine.v - p.spine.r - 6, p.lungs.domeTopLeft + 10],
      [42, p.cavity.cv - 5, p.lungs.domeTopLeft - 35],
    ],
    7,
    STYLES.oesophagus,
  );
  // Clavicles, at the top of the chest.
  const front = -p.body.b + p.body.fatFront;
  for (const s of [-1, 1]) {
    set.addPath(
      [
        [s * 16, front + 10, p.ribs.firstW - 6],
        [s * 70, front + 16, p.ribs.firstW + 6],
        [s * (p.cavity.a - 5), front + 42, p.ribs.firstW + 12],
      ],
      6.5,
      STYLES.bone,
    );
  }
}
