/**
 * Connected components of binary masks: labelling, keeping the largest, dropping the small.
 * The labels are scipy.ndimage.label's: 1..count, numbered in raster order of each component's
 * first voxel (z, then row, then col), 0 for background.
 *
 * Labelling is one raster pass with a union-find over provisional labels (no recursion, no queue),
 * then a pass that replaces each provisional label by its component's final one. Memory: the
 * Int32Array of labels (4 bytes a voxel) plus one Int32Array entry per provisional label.
 */
import type { Shape3 } from '@covsev/io';
import { backwardOffsets, type Connectivity, checkConnectivity, checkMask, isInPlane } from './connectivity.js';

export interface ComponentLabels {
  /** Per voxel: 0 for background, 1..count for the component it belongs to. */
  readonly labels: Int32Array;
  /** Number of components. */
  readonly count: number;
  /** Voxels per label: `sizes[k]` for component k; `sizes[0]` counts the background voxels. */
  readonly sizes: Int32Array;
}

/**
 * Labels the connected components of `mask` (non-zero = foreground). With an in-plane
 * connectivity (4, 8) each slice is labelled on its own (a component never crosses slices) and the
 * numbering runs on through the slices; with 6, 18 or 26 the components are 3D. Equivalent to
 * `scipy.ndimage.label(mask, structure=generate_binary_structure(...))`.
 */
export function labelComponents(mask: Uint8Array, shape: Shape3, connectivity: Connectivity = 26): ComponentLabels {
  checkMask('labelComponents', mask, shape);
  checkConnectivity('labelComponents', connectivity);
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  const offsets = backwardOffsets(connectivity);
  const dz = offsets.map((o) => o[0]);
  const dy = offsets.map((o) => o[1]);
  const dx = offsets.map((o) => o[2]);
  const delta = offsets.map(([oz, oy, ox]) => oz * plane + oy * cols + ox);
  const nOffsets = offsets.length;
  const labels = new Int32Array(mask.length);

  // Union-find over provisional labels; parent[l] <= l always, so a root is its set's smallest label.
  let parent = new Int32Array(1024);
  let next = 0;
  const find = (l: number): number => {
    let root = l;
    while (parent[root] !== root) root = parent[root] as number;
    // Path compression.
    while (parent[l] !== root) {
      const up = parent[l] as number;
      parent[l] = root;
      l = up;
    }
    return root;
  };

  for (let z = 0; z < slices; z++) {
    for (let y = 0; y < rows; y++) {
      let i = z * plane + y * cols;
      for (let x = 0; x < cols; x++, i++) {
        if (mask[i] === 0) continue;
        let label = 0;
        for (let k = 0; k < nOffsets; k++) {
          const nz = z + (dz[k] as number);
          const ny = y + (dy[k] as number);
          const nx = x + (dx[k] as number);
          if (nz < 0 || ny < 0 || ny >= rows || nx < 0 || nx >= cols) continue;
          const other = labels[i + (delta[k] as number)] as number;
          if (other === 0) continue;
          const root = find(other);
          if (label === 0) label = root;
          else if (root !== label) {
            // Union: the larger root points at the smaller.
            if (root < label) {
              parent[label] = root;
              label = root;
            } else parent[root] = label;
          }
        }
        if (label === 0) {
          next++;
          if (next >= parent.length) {
            const grown = new Int32Array(parent.length * 2);
            grown.set(parent);
            parent = grown;
          }
          parent[next] = next;
          label = next;
        }
        labels[i] = label;
      }
    }
  }

  // Final labels: the roots in increasing order, which is the raster order of first voxels (a
  // component's first voxel has no labelled earlier neighbour in it, so it made the smallest label).
  const final = new Int32Array(next + 1);
  let count = 0;
  for (let l = 1; l <= next; l++) {
    const root = find(l);
    if (root === l) final[l] = ++count;
    else final[l] = final[root] as number;
  }
  const sizes = new Int32Array(count + 1);
  for (let i = 0; i < labels.length; i++) {
    const l = final[labels[i] as number] as number;
    labels[i] = l;
    sizes[l] = (sizes[l] as number) + 1;
  }
  return { labels, count, sizes };
}

/** The labels of the `n` largest components (ties go to the lower label), largest first. */
function largestLabels(sizes: Int32Array, candidates: readonly number[], n: number): number[] {
  return [...candidates].sort((a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b).slice(0, n);
}

/**
 * Keeps the `n` largest connected components of `mask` (a new 0/1 mask). With a 3D connectivity
 * (6, 18, 26) they are the n largest of the volume; with an in-plane one (4, 8), the n largest of
 * each slice. Ties in size go to the component that comes first in raster order.
 */
export function keepLargestComponents(mask: Uint8Array, shape: Shape3, n: number, connectivity: Connectivity = 26): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`keepLargestComponents: n must be an integer >= 0, got ${n}`);
  const { labels, count, sizes } = labelComponents(mask, shape, connectivity);
  const keep = new Uint8Array(count + 1);
  if (isInPlane(connectivity)) {
    // Labels are numbered slice by slice, so each slice owns a contiguous run of labels.
    const plane = shape[1] * shape[2];
    for (let z = 0; z < shape[0]; z++) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = 0;
      for (let i = z * plane; i < (z + 1) * plane; i++) {
        const l = labels[i] as number;
        if (l === 0) continue;
        if (l < lo) lo = l;
        if (l > hi) hi = l;
      }
      if (hi === 0) continue;
      const inSlice: number[] = [];
      for (let l = lo; l <= hi; l++) inSlice.push(l);
      for (const l of largestLabels(sizes, inSlice, n)) keep[l] = 1;
    }
  } else {
    const all: number[] = [];
    for (let l = 1; l <= count; l++) all.push(l);
    for (const l of largestLabels(sizes, all, n)) keep[l] = 1;
  }
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) out[i] = keep[labels[i] as number] as number;
  return out;
}

/** Drops the components smaller than `minVoxels` (a new 0/1 mask). */
export function removeSmallComponents(
  mask: Uint8Array,
  shape: Shape3,
  minVoxels: number,
  connectivity: Connectivity = 26,
): Uint8Array {
  if (!Number.isFinite(minVoxels) || minVoxels < 0) {
    throw new RangeError(`removeSmallComponents: minVoxels must be a number >= 0, got ${minVoxels}`);
  }
  const { labels, sizes } = labelComponents(mask, shape, connectivity);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) {
    const l = labels[i] as number;
    out[i] = l !== 0 && (sizes[l] as number) >= minVoxels ? 1 : 0;
  }
  return out;
}
