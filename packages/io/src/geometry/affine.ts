/**
 * The small linear algebra of volume geometry, written once: 3-vectors (DICOM orientation
 * cosines), row-major 3x3 matrices, quaternions (the NIfTI qform) and the 4x4 row-major affines
 * of volume.ts, which act on the voxel index column (col, row, slice, 1).
 */

export type Vec3 = readonly [number, number, number];
/** Row-major 3x3 matrix, 9 numbers. */
export type Mat3 = number[];

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
export function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
export function scale(a: Vec3, s: number): Vec3 {
  return [a[0] * s, a[1] * s, a[2] * s];
}
/** `v` scaled to length 1, or undefined when it is (nearly) zero. */
export function unit(v: Vec3): Vec3 | undefined {
  const n = Math.hypot(...v);
  return n > 1e-6 ? scale(v, 1 / n) : undefined;
}

export function det3(m: readonly number[]): number {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

export function invert3(m: readonly number[]): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = det3(m);
  const cof = [
    e * i - f * h,
    c * h - b * i,
    b * f - c * e,
    f * g - d * i,
    a * i - c * g,
    c * d - a * f,
    d * h - e * g,
    b * g - a * h,
    a * e - b * d,
  ];
  return cof.map((value) => value / det);
}

export function transpose3(m: readonly number[]): Mat3 {
  return [0, 3, 6, 1, 4, 7, 2, 5, 8].map((i) => m[i] as number);
}

/** The orthogonal polar factor of a near-rotation (Newton iteration X <- (X + X^-T) / 2). */
export function nearestRotation(m: readonly number[]): Mat3 {
  let x = [...m];
  for (let iter = 0; iter < 50; iter++) {
    const inverseTransposed = transpose3(invert3(x));
    const next = x.map((value, i) => (value + (inverseTransposed[i] as number)) / 2);
    const change = Math.max(...next.map((value, i) => Math.abs(value - (x[i] as number))));
    x = next;
    if (change < 1e-15) break;
  }
  return x;
}

/** Rotation matrix (row-major 3x3) of quaternion (w, x, y, z), normalising it (nibabel's quat2mat). */
export function quaternionToMatrix(w: number, x: number, y: number, z: number): Mat3 {
  const n = w * w + x * x + y * y + z * z;
  if (n < Number.EPSILON) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const s = 2 / n;
  const X = x * s;
  const Y = y * s;
  const Z = z * s;
  const [wX, wY, wZ] = [w * X, w * Y, w * Z];
  const [xX, xY, xZ] = [x * X, x * Y, x * Z];
  const [yY, yZ, zZ] = [y * Y, y * Z, z * Z];
  return [1 - (yY + zZ), xY - wZ, xZ + wY, xY + wZ, 1 - (xX + zZ), yZ - wX, xZ - wY, yZ + wX, 1 - (xX + yY)];
}

/** Unit quaternion (w, x, y, z), w >= 0, of a rotation matrix (row-major 3x3). */
export function matrixToQuaternion(m: readonly number[]): [number, number, number, number] {
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = m as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const trace = m00 + m11 + m22;
  let q: [number, number, number, number];
  if (trace > 0) {
    const s = Math.sqrt(trace + 1) * 2;
    q = [s / 4, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s];
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    q = [(m21 - m12) / s, s / 4, (m01 + m10) / s, (m02 + m20) / s];
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    q = [(m02 - m20) / s, (m01 + m10) / s, s / 4, (m12 + m21) / s];
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    q = [(m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, s / 4];
  }
  const norm = Math.hypot(...q);
  const sign = q[0] < 0 ? -1 : 1;
  return q.map((value) => (sign * value) / norm) as [number, number, number, number];
}

/** The 3x3 linear part of a 4x4 row-major affine (row-major). */
export function affineLinear(affine: readonly number[]): Mat3 {
  return [0, 1, 2, 4, 5, 6, 8, 9, 10].map((i) => affine[i] as number);
}

/** Length of column `c` (0 = col, 1 = row, 2 = slice axis) of an affine's linear part: that axis's voxel size. */
export function affineColumnNorm(affine: readonly number[], c: number): number {
  return Math.hypot(affine[c] as number, affine[4 + c] as number, affine[8 + c] as number);
}

/**
 * The 4x4 affine of a NIfTI qform (nibabel's `get_qform`): rotation from the quaternion (b, c, d)
 * with w = sqrt(1 - b^2 - c^2 - d^2) (given), each column scaled by its zoom, `qoffset` as the
 * translation.
 */
export function qformToAffine(
  w: number,
  quatern: readonly [number, number, number],
  zooms: readonly [number, number, number],
  qoffset: readonly [number, number, number],
): number[] {
  const R = quaternionToMatrix(w, quatern[0], quatern[1], quatern[2]);
  const affine: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let col = 0; col < 3; col++) affine.push((R[r * 3 + col] as number) * (zooms[col] as number));
    affine.push(qoffset[r] as number);
  }
  affine.push(0, 0, 0, 1);
  return affine;
}

/**
 * The qform of an affine, as nibabel's `Nifti1Header.set_qform` computes it: zooms are the column
 * norms, qfac = -1 when the rotation part has a negative determinant (then its z column is
 * flipped), and the nearest rotation (polar decomposition) gives the quaternion with w >= 0.
 */
export function qformFromAffine(affine: readonly number[]): {
  quatern: [number, number, number];
  qoffset: [number, number, number];
  qfac: 1 | -1;
  zooms: [number, number, number];
} {
  const a = (r: number, c: number) => affine[r * 4 + c] as number;
  const zooms = [0, 1, 2].map((c) => affineColumnNorm(affine, c)) as [number, number, number];
  // R = RZS / zooms, row-major 3x3.
  const R = [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => a(r, c) / (zooms[c] as number)));
  let qfac: 1 | -1 = 1;
  if (det3(R) < 0) {
    qfac = -1;
    for (const i of [2, 5, 8]) R[i] = -(R[i] as number);
  }
  const [_w, x, y, z] = matrixToQuaternion(nearestRotation(R));
  return { quatern: [x, y, z], qoffset: [a(0, 3), a(1, 3), a(2, 3)], qfac, zooms };
}
