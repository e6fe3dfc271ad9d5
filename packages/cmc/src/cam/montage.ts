/**
 * A picture of a class activation map (the paper's Fig. 4): CT slices with the CAM as a jet heat
 * overlay and, where given, the outline of the infection mask, through io's montage writer.
 */
import { SEVERITY_CLASSES, type Volume, writeMontagePng } from '@covsev/io';
import type { ClassActivation } from './cam.js';

export interface CamMontageOptions {
  /** Infection mask on the CT's grid: its outline (edge pixels) is drawn over the heat map. */
  readonly mask?: Volume;
  /** Slice indices to show, or how many evenly spaced slices (default 9). */
  readonly slices?: readonly number[] | number;
  /** Tiles per row (default: ceil(sqrt(n))). */
  readonly columns?: number;
  /** Names of the classes, for the caption (default: Mild, Moderate, Severe, Critical). */
  readonly classNames?: readonly string[];
  /** Opacity of the heat map where the CAM is 1 (default 0.5; a value v gets 0.5 v). */
  readonly heatAlpha?: number;
  /** RGB of the mask outline (default white). */
  readonly outlineColour?: readonly [number, number, number];
  /**
   * Text above the tiles; default, for a {@link ClassActivation}: `CAM <class> | predicted
   * <class> p <probability>`; `false`: no caption strip.
   */
  readonly caption?: string | false;
}

/** The default caption of a CAM montage. */
export function camCaption(cam: ClassActivation, classNames: readonly string[] = SEVERITY_CLASSES): string {
  const name = (c: number): string => classNames[c] ?? `class ${c}`;
  const map = cam.lowRes.layer === 4 ? 'CAM' : `Grad-CAM layer ${cam.lowRes.layer}`;
  return `${map} ${name(cam.classId)} | predicted ${name(cam.predicted)} p ${cam.probability.toFixed(2)}`;
}

/**
 * Writes a PNG montage of `ct`'s slices with the CAM (a {@link ClassActivation} from
 * `classActivationVolume`, or any map in [0, 1] on the CT's grid) as a heat overlay: each pixel is
 * blended with the jet colour of its CAM value v with opacity `heatAlpha * v`, so cold regions
 * show the CT as it is and hot ones turn red; the infection mask's outline is drawn on top.
 * Tiles are `ct`'s slices as stored (row 0 at the top, column 0 at the left), like io's montages.
 * With a caption the image is io's `CAPTION_HEIGHT` pixels taller.
 */
export async function writeCamMontage(
  path: string,
  ct: Volume,
  cam: ClassActivation | Volume,
  options: CamMontageOptions = {},
): Promise<void> {
  const activation = 'cam' in cam ? cam : undefined;
  const heat = activation === undefined ? (cam as Volume) : activation.cam;
  const caption =
    options.caption === false
      ? undefined
      : (options.caption ?? (activation === undefined ? undefined : camCaption(activation, options.classNames)));
  await writeMontagePng(path, ct, {
    heat,
    heatAlpha: options.heatAlpha ?? 0.5,
    ...(options.slices === undefined ? {} : { slices: options.slices }),
    ...(options.columns === undefined ? {} : { columns: options.columns }),
    ...(options.mask === undefined
      ? {}
      : { mask: options.mask, maskStyle: 'outline' as const, colours: [options.outlineColour ?? [255, 255, 255]] }),
    ...(caption === undefined ? {} : { caption }),
  });
}
