/** A scan as the classifier takes it (already on the classifier grid, `CMC_FULL_SHAPE` or smaller). */
import type { Volume } from '@covsev/io';

export interface CmcScan {
  readonly name: string;
  /** uint8 windowed CT on the classifier grid [D, H, W]. */
  readonly image: Volume<Uint8Array>;
  /** Infection mask on the same grid (infection-aware CMC); absent for plain CMC. */
  readonly mask?: Volume<Uint8Array>;
  /** Class id 0..3 (category - 1); absent for test scans. */
  readonly label?: number;
}
