import { makeVolume, type Volume } from '../volume.js';

/** An HU window: values at or below `low` map to 0, at or above `high` to 255. */
export interface HuWindow {
  readonly low: number;
  readonly high: number;
}

/** Named windows in use (docs/formats.md). */
export const HU_WINDOWS = {
  /** COV19-CT-DB's JPGs correspond roughly to [-1150, 350] HU mapped to 0..255. */
  cov19ctdb: { low: -1150, high: 350 },
  /** lungmask (Hofmanninger et al. 2020) clips to [-1024, 600] HU before its network. */
  lungmask: { low: -1024, high: 600 },
  /** COVID-19-CT-Seg's Radiopaedia volumes are scaled to 0..255 from [-1250, 250] HU. */
  ctseg: { low: -1250, high: 250 },
} as const satisfies Record<string, HuWindow>;

export type HuWindowName = keyof typeof HU_WINDOWS;

function resolveWindow(window: HuWindow | HuWindowName): HuWindow {
  if (typeof window !== 'string') {
    if (!(window.high > window.low)) throw new RangeError(`HU window needs high > low, got [${window.low}, ${window.high}]`);
    return window;
  }
  const named = HU_WINDOWS[window];
  if (named === undefined) {
    throw new RangeError(`unknown HU window "${window}"; known: ${Object.keys(HU_WINDOWS).join(', ')}`);
  }
  return named;
}

/** Maps one HU value to 0..255 (rounded, clipped). */
export function windowValue(hu: number, window: HuWindow): number {
  const v = Math.round(((hu - window.low) * 255) / (window.high - window.low));
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Windows a volume in HU to 8-bit (`uint8-windowed`). The geometry is kept. */
export function applyHuWindow(volume: Volume, window: HuWindow | HuWindowName): Volume<Uint8Array> {
  if (volume.intensity !== 'hu' && volume.intensity !== 'unknown') {
    throw new TypeError(
      `applyHuWindow needs a volume in HU, got "${volume.intensity}"${volume.source ? ` (${volume.source})` : ''}`,
    );
  }
  const w = resolveWindow(window);
  const src = volume.data;
  const out = new Uint8Array(src.length);
  const scale = 255 / (w.high - w.low);
  for (let i = 0; i < src.length; i++) {
    const v = Math.round(((src[i] as number) - w.low) * scale);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return makeVolume({
    data: out,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: 'uint8-windowed',
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}
