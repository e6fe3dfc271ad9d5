/**
 * One synthetic patient: the random anatomical parameters drawn from a seed, in patient-frame
 * millimetres (see geometry.ts). Nothing here depends on the voxel grid, so the same seed gives
 * the same patient at any resolution.
 */
import type { PhantomRng } from './rng.js';

export interface Ellipse2 {
  readonly cu: number;
  readonly cv: number;
  readonly au: number;
  readonly av: number;
}

export interface Patient {
  /** Nominal craniocaudal length covered by a scan when no spacing is given (mm). */
  readonly scanLength: number;
  /** Nominal in-plane field of view across the columns when no spacing is given (mm). */
  readonly fov: number;
  /** Patient-frame v shown at the centre row (the body sits a little above the centre). */
  readonly vCentre: number;
  /** Patient-frame w at the scan's centre slice. */
  readonly wCentre: number;

  readonly body: {
    /** Lateral and anterior half axes of the outline (mm). */
    readonly a: number;
    readonly b: number;
    /** The back is flat from here (v, mm) where the patient lies on the table. */
    readonly flatBack: number;
    readonly skin: number;
    readonly fatFront: number;
    readonly fatBack: number;
    readonly fatSide: number;
  };
  /** Thoracic cavity (inside the ribs): half axes and centre v. */
  readonly cavity: { readonly a: number; readonly b: number; readonly cv: number };
  readonly table: { readonly top: number; readonly curve: number; readonly thickness: number };

  readonly lungs: {
    readonly apexW: number;
    /** Top of the right (liver) and left diaphragm domes (w, mm). */
    readonly domeTopRight: number;
    readonly domeTopLeft: number;
    /** Curvature of the domes, lateral and antero-posterior (mm of drop per mm^2). */
    readonly domeKu: number;
    readonly domeKvFront: number;
    readonly domeKvBack: number;
    /** Lowest any lung reaches (w, mm): the posterior costophrenic recesses. */
    readonly recessW: number;
    /** Half width of the anterior junction between the lungs (mm). */
    readonly junction: number;
    /** Length over which each apex tapers (mm). */
    readonly apexTaper: number;
    /** Parenchyma HU at the front and back (gravity makes the back denser). */
    readonly huFront: number;
    readonly huBack: number;
    /** Amplitude of the boundary perturbation (mm). */
    readonly wobble: number;
  };
  readonly heart: Ellipse2 & { readonly cw: number; readonly aw: number };
  /** Upper mediastinum (great vessels, trachea): an elliptic cylinder above `fromW`. */
  readonly upperMediastinum: Ellipse2 & { readonly fromW: number };
  readonly spine: {
    readonly v: number;
    readonly r: number;
    readonly discPeriod: number;
    readonly discPhase: number;
    readonly discThickness: number;
  };
  readonly trachea: { readonly v: number; readonly r: number; readonly carinaW: number };
  readonly aorta: {
    readonly ascU: number;
    readonly ascV: number;
    readonly descU: number;
    readonly descV: number;
    readonly archW: number;
    readonly r: number;
  };
  readonly ribs: {
    readonly count: number;
    readonly firstW: number;
    readonly gap: number;
    readonly drop: number;
    readonly offset: number;
    readonly halfHeight: number;
    readonly halfDepth: number;
  };
  readonly sternum: { readonly fromW: number; readonly toW: number };
  /** Image noise standard deviation (HU, after the noise is smoothed). */
  readonly noiseSd: number;
  readonly huFat: number;
  readonly huMuscle: number;
  readonly huLiver: number;
}

export function samplePatient(rng: PhantomRng): Patient {
  const sLat = rng.uniform(0.9, 1.08);
  const sAp = rng.uniform(0.88, 1.1);
  const a = 160 * sLat;
  const b = 118 * sAp;
  const flatBack = 0.93 * b;
  const fatSide = rng.uniform(6, 24);
  const fatFront = fatSide * rng.uniform(0.7, 1.1);
  const fatBack = fatSide * rng.uniform(0.8, 1.3);
  const front = -b + fatFront + rng.uniform(10, 15);
  const back = flatBack - fatBack - rng.uniform(18, 24);
  const cavity = { a: a - fatSide - rng.uniform(12, 16), b: (back - front) / 2, cv: (back + front) / 2 };

  const wShift = rng.uniform(-10, 10);
  const apexW = 138 + wShift;
  const domeTopRight = -62 + wShift + rng.uniform(-8, 8);
  const domeTopLeft = domeTopRight - rng.uniform(8, 20);
  const carinaW = 48 + wShift + rng.uniform(-6, 6);

  const spineR = rng.uniform(15, 19);
  const spineV = back - spineR - rng.uniform(8, 12);
  const tracheaR = rng.uniform(8, 10);
  const tracheaV = spineV - spineR - tracheaR - rng.uniform(4, 8);

  const heartAw = rng.uniform(50, 58);
  const heart = {
    cu: rng.uniform(16, 28),
    cv: front + rng.uniform(42, 50),
    au: rng.uniform(50, 60) * sLat,
    av: rng.uniform(40, 47) * sAp,
    cw: domeTopLeft + heartAw - rng.uniform(5, 12),
    aw: heartAw,
  };
  const heartTop = heart.cw + heart.aw;

  return {
    scanLength: rng.uniform(300, 330),
    fov: rng.uniform(350, 390),
    vCentre: rng.uniform(0, 10),
    wCentre: 0,
    body: { a, b, flatBack, skin: 2, fatFront, fatBack, fatSide },
    cavity,
    table: { top: flatBack + rng.uniform(4, 9), curve: rng.uniform(0.0002, 0.0005), thickness: rng.uniform(9, 13) },
    lungs: {
      apexW,
      domeTopRight,
      domeTopLeft,
      domeKu: rng.uniform(0.006, 0.008),
      domeKvFront: rng.uniform(0.004, 0.006),
      domeKvBack: rng.uniform(0.011, 0.014),
      recessW: domeTopLeft - rng.uniform(70, 85),
      junction: rng.uniform(3, 6),
      apexTaper: rng.uniform(70, 90),
      huFront: rng.uniform(-895, -880),
      huBack: rng.uniform(-860, -845),
      wobble: rng.uniform(1.5, 3),
    },
    heart,
    upperMediastinum: {
      cu: rng.uniform(-4, 4),
      cv: (front + tracheaV + tracheaR) / 2 + 4,
      au: rng.uniform(34, 40),
      av: (tracheaV + tracheaR + 10 - front) / 2,
      fromW: heartTop - 15,
    },
    spine: {
      v: spineV,
      r: spineR,
      discPeriod: rng.uniform(24, 28),
      discPhase: rng.uniform(0, 25),
      discThickness: rng.uniform(5, 7),
    },
    trachea: { v: tracheaV, r: tracheaR, carinaW },
    aorta: {
      ascU: -rng.uniform(8, 14),
      ascV: front + rng.uniform(32, 40),
      descU: rng.uniform(18, 24),
      descV: spineV - spineR + rng.uniform(-4, 2),
      archW: carinaW + rng.uniform(22, 30),
      r: rng.uniform(11, 14),
    },
    ribs: {
      count: 12,
      firstW: apexW + rng.uniform(0, 8),
      gap: rng.uniform(21, 24),
      drop: rng.uniform(100, 120),
      offset: rng.uniform(6, 8),
      halfHeight: rng.uniform(4, 5),
      halfDepth: rng.uniform(2.6, 3.4),
    },
    sternum: { fromW: carinaW - rng.uniform(105, 120), toW: carinaW + rng.uniform(45, 60) },
    noiseSd: rng.uniform(15, 24),
    huFat: rng.uniform(-110, -90),
    huMuscle: rng.uniform(40, 52),
    huLiver: rng.uniform(52, 64),
  };
}
