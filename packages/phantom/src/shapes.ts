/** Small geometric helpers shared by the anatomy painters. All lengths in mm. */

/**
 * Approximate signed distance to an axis-aligned ellipse centred at the origin (negative inside):
 * exact for circles, good near the boundary of moderate ellipses, which is all anti-aliasing and
 * layer thicknesses need.
 */
export function ellipseSd(du: number, dv: number, a: number, b: number): number {
  const x = du / a;
  const y = dv / b;
  const q = Math.sqrt(x * x + y * y);
  if (q < 1e-9) return -Math.min(a, b);
  const r = Math.sqrt(du * du + dv * dv);
  return r * (1 - 1 / q);
}

/** Coverage of a pixel of size `px` by the inside of a signed distance (1 inside, 0 outside). */
export function coverage(sd: number, px: number): number {
  const m = 0.5 - sd / px;
  return m <= 0 ? 0 : m >= 1 ? 1 : m;
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

export function smoothstep(e0: number, e1: number, x: number): number {
  const t = clamp((x - e0) / (e1 - e0), 0, 1);
  return t * t * (3 - 2 * t);
}

export type Vec3 = readonly [number, number, number];
