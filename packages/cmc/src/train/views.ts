/**
 * The classifier's augmented views (docs/method.md, augmentation A): a view drawn on the main thread
 * (`drawView`), applied here or in a `ViewPool` worker (`applyView`), and the wire form a worker
 * receives and answers with. Loads no tfjs (view workers import it).
 */
import { applyImageView, applyViewParams, drawViewParams, makeVolume, type Rng, type ViewParams, type Volume } from '@covsev/io';

/** One scan's view: the source volumes and the drawn parameters. */
export interface ViewJob {
  readonly image: Volume<Uint8Array>;
  readonly mask?: Volume<Uint8Array>;
  readonly params: ViewParams;
}

/** An augmented view: image, and mask where the scan has one. */
export interface View {
  readonly image: Volume<Uint8Array>;
  readonly mask?: Volume<Uint8Array>;
}

/** Draws one view of a scan (crop, rotation, contrast) from `rng`. */
export function drawView(scan: { image: Volume<Uint8Array>; mask?: Volume<Uint8Array> }, rng: Rng): ViewJob {
  const [, rows, cols] = scan.image.shape;
  const params = drawViewParams(rng, rows, cols);
  return scan.mask === undefined ? { image: scan.image, params } : { image: scan.image, mask: scan.mask, params };
}

/** Applies a drawn view (what the pool's workers run). */
export function applyView(job: ViewJob): View {
  if (job.mask === undefined) return { image: applyImageView(job.image, job.params) };
  return applyViewParams({ image: job.image, mask: job.mask }, job.params);
}

/** The wire form of a view job and its answer (a `WorkerPool` carries them). */
export interface WireVolume {
  readonly data: Uint8Array;
  readonly shape: readonly [number, number, number];
}
export interface ViewRequest {
  readonly image: WireVolume;
  readonly mask?: WireVolume;
  readonly params: ViewParams;
}
export interface ViewAnswer {
  readonly image: WireVolume;
  readonly mask?: WireVolume;
}

export function fromWire(v: WireVolume, intensity: 'uint8-windowed' | 'label'): Volume<Uint8Array> {
  return makeVolume({ data: v.data, shape: v.shape, intensity });
}

export const toWire = (v: Volume<Uint8Array>): WireVolume => ({ data: v.data, shape: v.shape });
