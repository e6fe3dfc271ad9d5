/**
 * The smooth random fields of one patient (shapes and textures), drawn from their own streams
 * so that they depend on the seed alone, never on the voxel grid.
 */
import { type Box3, LatticeNoise3 } from './noise.js';
import type { Patient } from './patient.js';
import type { PhantomRng } from './rng.js';

export interface Fields {
  /** Coarse field (9 mm lattice): organ outlines, lesion layout. */
  readonly coarse: LatticeNoise3;
  /** Medium field (4 mm): lesion borders. */
  readonly medium: LatticeNoise3;
  /** Fine field (2.5 mm): tissue and lesion texture. */
  readonly fine: LatticeNoise3;
}

export function patientBox(p: Patient): Box3 {
  return { u0: -p.body.a - 30, u1: p.body.a + 30, v0: -p.body.b - 30, v1: p.table.top + 30, w0: -260, w1: 260 };
}

export function makeFields(p: Patient, rng: PhantomRng): Fields {
  const box = patientBox(p);
  return {
    coarse: new LatticeNoise3(rng.fork('coarse'), box, 9),
    medium: new LatticeNoise3(rng.fork('medium'), box, 4),
    fine: new LatticeNoise3(rng.fork('fine'), box, 2.5),
  };
}
