/**
 * A lung mask from thresholds and morphology alone, needing no weights: stage 1's fallback and
 * baseline (docs/method.md, "Segmentation"), and a check on the learned lung model M1.
 *
 * Steps (HU volumes, `[slices, rows, cols]`, docs/conventions.md; lengths in mm are turned into
 * pixels with the in-plane spacing):
 * 1. **Air**: voxels below `airThresholdHu` (-320 HU: aerated lung is about -900..-500, soft tissue
 *    above -100; the padding outside a scanner's field of view, e.g. -3024, counts as air).
 * 2. **Body**, per slice: the tissue (not air), opened with a disc-like box of `bodyOpeningMm` so
 *    that thin bridges (blanket, table supports, the table touching the back) break, its largest
 *    4-connected component, holes filled. The table and everything outside the patient fall away;
 *    the lungs, being holes in the tissue, are inside.
 * 3. **Candidates**: air inside the body. Outside air, the air under the table and gas outside the
 *    chest that touches the skin are out; bowel gas and the airways are still in.
 * 4. **Airways** (trachea, main bronchi, also gas in the oesophagus): tracked slice by slice from
 *    the most superior slice down (superior from the affine's z axis). A seed is an in-plane
 *    component of the candidates smaller than `airwayMaxAreaMm2` whose centroid lies within
 *    `airwayCentralFraction` of the body's width from the body's central column; seeds are taken in
 *    the upper `airwaySeedFraction` of the slices holding candidates (below that, small central air
 *    is as likely a sliver of lung near the heart). A small component that overlaps the previous
 *    slice's airway is airway too, wherever it lies; a large one is lung the airway has entered,
 *    and tracking along that branch stops. Airway voxels are removed from the candidates.
 * 5. **Lungs**: the two largest 3D (26-connected) components of what is left. When the largest
 *    holds both sides (the second is under `secondLungMinFraction` of it, or missing), it is split
 *    by eroding it in-plane with growing radius until it falls into two large parts, which then
 *    grow back inside it (geodesic dilation); if that fails, one component is kept with a warning.
 * 6. **Clean-up**, per slice: holes filled (vessels and small lesions inside the lung become lung),
 *    then a closing with a box of `closingMm` (erosion border 1, so slices at the grid's edge are
 *    not eaten), and once more restricted to the body.
 *
 * Limits: dense disease touching the chest wall (consolidation above the threshold, not enclosed
 * by aerated lung in its slice) is left out; lungs that touch along a long front may stay one
 * component (warned). A volume with no lung returns an empty mask with a warning, never a throw.
 */
import { makeVolume, type Volume, writeMontagePng } from '@covsev/io';
import { closeMask, dilateMask, erodeMask, fillHoles, keepLargestComponents, labelComponents } from '../morphology/index.js';

export interface ClassicalLungMaskOptions {
  /** Air below this (HU). Default -320. */
  readonly airThresholdHu?: number;
  /** Opening of the tissue before the body is taken, in mm (box half-width). Default 3. */
  readonly bodyOpeningMm?: number;
  /** Largest in-plane area of an airway component, mm^2. Default 700 (a trachea is 150..450). */
  readonly airwayMaxAreaMm2?: number;
  /** Airway seeds lie within this fraction of the body width from its central column. Default 0.15. */
  readonly airwayCentralFraction?: number;
  /** Airway seeds are looked for in this upper fraction of the slices with candidates. Default 0.6. */
  readonly airwaySeedFraction?: number;
  /** Below this fraction of the largest component, the second is not a lung. Default 0.1. */
  readonly secondLungMinFraction?: number;
  /** Closing at the end, in mm (box half-width, per slice). Default 2; 0 for none. */
  readonly closingMm?: number;
}

export interface ClassicalLungComponent {
  readonly voxels: number;
  readonly volumeMl: number;
  /** From the affine's x axis (RAS+: +x is the patient's right), against the body's centre. */
  readonly side: 'left' | 'right';
}

export interface ClassicalLungSlice {
  /** Lung voxels in this slice (final mask). */
  readonly lungVoxels: number;
  /** Lung area in this slice, mm^2. */
  readonly lungAreaMm2: number;
  /** Voxels removed as airway in this slice. */
  readonly airwayVoxels: number;
  /** Voxels of the body in this slice. */
  readonly bodyVoxels: number;
}

export interface ClassicalLungReport {
  readonly lungVoxels: number;
  readonly lungVolumeMl: number;
  /** The lung components kept (before the clean-up), largest first. */
  readonly components: readonly ClassicalLungComponent[];
  /** Mean HU inside the final mask (NaN when it is empty). */
  readonly meanHu: number;
  readonly airwayVoxels: number;
  readonly perSlice: readonly ClassicalLungSlice[];
  readonly warnings: readonly string[];
}

export interface ClassicalLungMaskResult {
  /** 0/1, the volume's shape. */
  readonly mask: Uint8Array;
  readonly report: ClassicalLungReport;
}

const DEFAULTS: Required<ClassicalLungMaskOptions> = {
  airThresholdHu: -320,
  bodyOpeningMm: 3,
  airwayMaxAreaMm2: 700,
  airwayCentralFraction: 0.15,
  airwaySeedFraction: 0.6,
  secondLungMinFraction: 0.1,
  closingMm: 2,
};

function checkOptions(o: Required<ClassicalLungMaskOptions>): void {
  const finite = (name: keyof ClassicalLungMaskOptions, min: number, max = Number.POSITIVE_INFINITY): void => {
    const v = o[name];
    if (!Number.isFinite(v) || v < min || v > max) {
      throw new RangeError(`classicalLungMask: options.${name} must be a number in [${min}, ${max}], got ${v}`);
    }
  };
  if (!Number.isFinite(o.airThresholdHu)) {
    throw new RangeError(`classicalLungMask: options.airThresholdHu must be a finite number, got ${o.airThresholdHu}`);
  }
  finite('bodyOpeningMm', 0);
  finite('airwayMaxAreaMm2', 0);
  finite('airwayCentralFraction', 0, 1);
  finite('airwaySeedFraction', 0, 1);
  finite('secondLungMinFraction', 0, 1);
  finite('closingMm', 0);
}

/** Smallest air component taken for lung, ml (bowel gas, noise). */
const MIN_LUNG_ML = 1;

/** Whether world z (RAS+: superior) grows with the slice index: the affine's d z / d slice. */
function superiorIsHigherSlice(volume: Volume): boolean {
  return (volume.affine[10] ?? 1) >= 0;
}

/** The lung mask of a CT volume in HU, with a report; see the file comment for the steps. */
export function classicalLungMask(volume: Volume, options: ClassicalLungMaskOptions = {}): ClassicalLungMaskResult {
  const o = { ...DEFAULTS, ...options };
  checkOptions(o);
  const warnings: string[] = [];
  const where = volume.source === undefined ? 'the volume' : volume.source;
  if (volume.intensity !== 'hu') {
    if (volume.intensity === 'unknown') warnings.push(`${where}: intensity is unknown; read as HU`);
    else {
      throw new RangeError(
        `classicalLungMask: ${where} holds ${volume.intensity} values; it needs Hounsfield units (intensity 'hu')`,
      );
    }
  }
  const shape = volume.shape;
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  const n = slices * plane;
  const [sliceMm, rowMm, colMm] = volume.spacing;
  const pixelMm2 = rowMm * colMm;
  const voxelMl = (sliceMm * pixelMm2) / 1000;
  const pixels = (mm: number): number => Math.max(0, Math.round(mm / Math.sqrt(pixelMm2)));
  const data = volume.data;

  // 1. Air.
  const air = new Uint8Array(n);
  const tissue = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = data[i] as number;
    if (Number.isNaN(v)) continue;
    if (v < o.airThresholdHu) air[i] = 1;
    else tissue[i] = 1;
  }

  // 2. Body per slice.
  const openR = pixels(o.bodyOpeningMm);
  const opened =
    openR > 0
      ? dilateMask(erodeMask(tissue, shape, { shape: 'box', radius: openR, planar: true }), shape, {
          shape: 'box',
          radius: openR,
          planar: true,
        })
      : tissue;
  const body = fillHoles(keepLargestComponents(opened, shape, 1, 4), shape, 4);

  // 3. Candidates.
  const candidates = new Uint8Array(n);
  for (let i = 0; i < n; i++) candidates[i] = air[i] === 1 && body[i] === 1 ? 1 : 0;

  // 4. Airways.
  const airway = trackAirways(candidates, body, volume, o);
  for (let i = 0; i < n; i++) if (airway[i] === 1) candidates[i] = 0;

  // 5. Lungs.
  const { labels, count, sizes } = labelComponents(candidates, shape, 26);
  const order: number[] = [];
  for (let l = 1; l <= count; l++) order.push(l);
  order.sort((a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b);
  // Per voxel: 0, or which kept component (1 the largest, 2 the other lung).
  let owner: Uint8Array = new Uint8Array(n);
  const first = order[0];
  const second = order[1];
  const minLungVoxels = Math.max(1, Math.ceil(MIN_LUNG_ML / voxelMl));
  if (first === undefined || (sizes[first] as number) < minLungVoxels) {
    warnings.push(`${where}: no lung found (no air inside the body below ${o.airThresholdHu} HU)`);
    return emptyResult(shape, airway, body, warnings);
  }
  const secondIsLung = second !== undefined && (sizes[second] as number) >= o.secondLungMinFraction * (sizes[first] as number);
  if (secondIsLung) {
    for (let i = 0; i < n; i++) {
      const l = labels[i] as number;
      if (l === first) owner[i] = 1;
      else if (l === second) owner[i] = 2;
    }
  } else {
    const one = new Uint8Array(n);
    for (let i = 0; i < n; i++) if (labels[i] === first) one[i] = 1;
    const split = splitInTwo(one, volume, o.secondLungMinFraction);
    if (split === undefined) {
      warnings.push(`${where}: one lung component only (the lungs touch, or one lung is missing or collapsed); kept as one`);
      owner = one;
    } else owner = split;
  }
  const components = describeComponents(owner, body, volume, voxelMl);
  const lungs = Uint8Array.from(owner, (v) => (v === 0 ? 0 : 1));

  // 6. Clean-up.
  let mask = fillHoles(lungs, shape, 4);
  const closeR = pixels(o.closingMm);
  if (closeR > 0) mask = closeMask(mask, shape, { shape: 'box', radius: closeR, planar: true }, { borderValue: 1 });
  for (let i = 0; i < n; i++) if (body[i] === 0) mask[i] = 0;

  let lungVoxels = 0;
  let huSum = 0;
  const perSlice: ClassicalLungSlice[] = [];
  for (let z = 0; z < slices; z++) {
    let lv = 0;
    let av = 0;
    let bv = 0;
    for (let i = z * plane; i < (z + 1) * plane; i++) {
      if (mask[i] === 1) {
        lv++;
        huSum += data[i] as number;
      }
      av += airway[i] as number;
      bv += body[i] as number;
    }
    lungVoxels += lv;
    perSlice.push({ lungVoxels: lv, lungAreaMm2: lv * pixelMm2, airwayVoxels: av, bodyVoxels: bv });
  }
  return {
    mask,
    report: {
      lungVoxels,
      lungVolumeMl: lungVoxels * voxelMl,
      components,
      meanHu: lungVoxels === 0 ? Number.NaN : huSum / lungVoxels,
      airwayVoxels: perSlice.reduce((a, s) => a + s.airwayVoxels, 0),
      perSlice,
      warnings,
    },
  };
}

function emptyResult(shape: Volume['shape'], airway: Uint8Array, body: Uint8Array, warnings: string[]): ClassicalLungMaskResult {
  const plane = shape[1] * shape[2];
  const perSlice: ClassicalLungSlice[] = [];
  let airwayVoxels = 0;
  for (let z = 0; z < shape[0]; z++) {
    let av = 0;
    let bv = 0;
    for (let i = z * plane; i < (z + 1) * plane; i++) {
      av += airway[i] as number;
      bv += body[i] as number;
    }
    airwayVoxels += av;
    perSlice.push({ lungVoxels: 0, lungAreaMm2: 0, airwayVoxels: av, bodyVoxels: bv });
  }
  return {
    mask: new Uint8Array(shape[0] * plane),
    report: { lungVoxels: 0, lungVolumeMl: 0, components: [], meanHu: Number.NaN, airwayVoxels, perSlice, warnings },
  };
}

/** Step 4 of the file comment: the airway voxels (0/1). */
function trackAirways(
  candidates: Uint8Array,
  body: Uint8Array,
  volume: Volume,
  o: Required<ClassicalLungMaskOptions>,
): Uint8Array {
  const shape = volume.shape;
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  const pixelMm2 = volume.spacing[1] * volume.spacing[2];
  const maxArea = o.airwayMaxAreaMm2 / pixelMm2;
  const airway = new Uint8Array(candidates.length);
  const topDown = superiorIsHigherSlice(volume)
    ? Array.from({ length: slices }, (_, k) => slices - 1 - k)
    : Array.from({ length: slices }, (_, k) => k);
  // Slices holding candidates, in top-down order; seeds only in the upper fraction of them.
  const withCandidates = topDown.filter((z) => candidates.subarray(z * plane, (z + 1) * plane).some((v) => v === 1));
  const seedSlices = new Set(withCandidates.slice(0, Math.ceil(o.airwaySeedFraction * withCandidates.length)));
  const sliceShape = [1, rows, cols] as const;
  let previous: Uint8Array | undefined; // the airway of the slice above
  for (const z of topDown) {
    const cand = candidates.subarray(z * plane, (z + 1) * plane);
    const bodySlice = body.subarray(z * plane, (z + 1) * plane);
    const { labels, count, sizes } = labelComponents(cand, sliceShape, 8);
    // The body's column extent for "central".
    let xMin = cols;
    let xMax = -1;
    for (let i = 0; i < plane; i++) {
      if (bodySlice[i] === 1) {
        const x = i % cols;
        if (x < xMin) xMin = x;
        if (x > xMax) xMax = x;
      }
    }
    const centre = (xMin + xMax) / 2;
    const halfBand = o.airwayCentralFraction * (xMax - xMin + 1);
    const xSum = new Float64Array(count + 1);
    const overlaps = new Uint8Array(count + 1);
    for (let i = 0; i < plane; i++) {
      const l = labels[i] as number;
      if (l === 0) continue;
      xSum[l] = (xSum[l] as number) + (i % cols);
      if (previous !== undefined && previous[i] === 1) overlaps[l] = 1;
    }
    const isAirway = new Uint8Array(count + 1);
    for (let l = 1; l <= count; l++) {
      const size = sizes[l] as number;
      if (size > maxArea) continue;
      const central = Math.abs((xSum[l] as number) / size - centre) <= halfBand;
      if (overlaps[l] === 1 || (central && seedSlices.has(z))) isAirway[l] = 1;
    }
    const out = airway.subarray(z * plane, (z + 1) * plane);
    let any = false;
    for (let i = 0; i < plane; i++) {
      if (isAirway[labels[i] as number] === 1 && labels[i] !== 0) {
        out[i] = 1;
        any = true;
      }
    }
    previous = any ? out : undefined;
  }
  return airway;
}

/**
 * Step 5's fallback: splits one component holding both lungs by in-plane erosions of growing
 * radius (up to 10 mm) until two parts of at least `minFraction` of the larger appear, then grows
 * the two parts back inside the component, nearest part first. Returns the owner of each voxel
 * (0 outside, 1 and 2 the parts; voxels neither part reached stay 0); undefined when it never splits.
 */
function splitInTwo(one: Uint8Array, volume: Volume, minFraction: number): Uint8Array | undefined {
  const shape = volume.shape;
  const pixelMm = Math.sqrt(volume.spacing[1] * volume.spacing[2]);
  const maxR = Math.max(1, Math.round(10 / pixelMm));
  let eroded = one;
  for (let r = 1; r <= maxR; r++) {
    eroded = erodeMask(eroded, shape, { shape: 'cross', radius: 1, planar: true }, { borderValue: 1 });
    const { labels, count, sizes } = labelComponents(eroded, shape, 26);
    if (count < 2) {
      if (count === 0) return undefined;
      continue;
    }
    const order = Array.from({ length: count }, (_, k) => k + 1).sort(
      (a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b,
    );
    const a = order[0] as number;
    const b = order[1] as number;
    if ((sizes[b] as number) < minFraction * (sizes[a] as number)) continue;
    // Grow the two seeds back inside `one`, one step at a time, a voxel going to the first to reach it.
    const owner = new Uint8Array(one.length);
    for (let i = 0; i < one.length; i++) owner[i] = labels[i] === a ? 1 : labels[i] === b ? 2 : 0;
    for (let step = 0; step < r + 2; step++) {
      const grownA = dilateMask(
        Uint8Array.from(owner, (v) => (v === 1 ? 1 : 0)),
        shape,
        { shape: 'box', radius: 1, planar: true },
      );
      const grownB = dilateMask(
        Uint8Array.from(owner, (v) => (v === 2 ? 1 : 0)),
        shape,
        { shape: 'box', radius: 1, planar: true },
      );
      for (let i = 0; i < one.length; i++) {
        if (one[i] === 0 || owner[i] !== 0) continue;
        if (grownA[i] === 1 && grownB[i] === 0) owner[i] = 1;
        else if (grownB[i] === 1 && grownA[i] === 0) owner[i] = 2;
      }
    }
    return owner;
  }
  return undefined;
}

/** Size and side of each kept component; `owner` holds 0 or the component (1, 2) of each voxel. */
function describeComponents(owner: Uint8Array, body: Uint8Array, volume: Volume, voxelMl: number): ClassicalLungComponent[] {
  const count = 2;
  const sizes = new Int32Array(count + 1);
  for (let i = 0; i < owner.length; i++) sizes[owner[i] as number] = (sizes[owner[i] as number] as number) + 1;
  const [, rows, cols] = volume.shape;
  const plane = rows * cols;
  const a = volume.affine;
  // World x of voxel (col, row, slice): a[0] col + a[1] row + a[2] slice + a[3].
  const worldX = (i: number): number => {
    const z = Math.floor(i / plane);
    const rest = i - z * plane;
    const y = Math.floor(rest / cols);
    const x = rest - y * cols;
    return (a[0] as number) * x + (a[1] as number) * y + (a[2] as number) * z + (a[3] as number);
  };
  const sumX = new Float64Array(count + 1);
  let bodyX = 0;
  let bodyN = 0;
  for (let i = 0; i < owner.length; i++) {
    const l = owner[i] as number;
    if (l !== 0) sumX[l] = (sumX[l] as number) + worldX(i);
    if (body[i] === 1) {
      bodyX += worldX(i);
      bodyN++;
    }
  }
  const centre = bodyN === 0 ? 0 : bodyX / bodyN;
  const out: ClassicalLungComponent[] = [];
  for (let l = 1; l <= count; l++) {
    const voxels = sizes[l] as number;
    if (voxels === 0) continue;
    out.push({ voxels, volumeMl: voxels * voxelMl, side: (sumX[l] as number) / voxels > centre ? 'right' : 'left' });
  }
  return out.sort((p, q) => q.voxels - p.voxels);
}

export interface LungOverlayOptions {
  /** Slices to show, or how many evenly spaced (default 9, or all when fewer). */
  readonly slices?: readonly number[] | number;
  /** `fill` (default) or `outline`. */
  readonly maskStyle?: 'fill' | 'outline';
  /** HU window; default the `lungmask` window (docs/formats.md, "HU windows"). */
  readonly window?: 'cov19ctdb' | 'ctseg' | 'lungmask';
  readonly caption?: string;
}

/** Writes a PNG montage of the volume with the lung mask over it (atomically, via writeMontagePng). */
export async function writeLungOverlayPng(
  path: string,
  volume: Volume,
  mask: Uint8Array,
  options: LungOverlayOptions = {},
): Promise<void> {
  if (mask.length !== volume.data.length) {
    throw new RangeError(
      `writeLungOverlayPng: mask has ${mask.length} voxels but the volume [${volume.shape.join(', ')}] has ${volume.data.length}`,
    );
  }
  const maskVolume = makeVolume({
    data: mask,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: 'label',
  });
  await writeMontagePng(path, volume, {
    mask: maskVolume,
    slices: options.slices ?? Math.min(9, volume.shape[0]),
    window: options.window ?? 'lungmask',
    maskStyle: options.maskStyle ?? 'fill',
    ...(options.caption === undefined ? {} : { caption: options.caption }),
  });
}
