/**
 * The classifier variants of the paper's Table 3 (docs/method.md, "Variants (Table 3)") as options
 * of one trainer. A variant says which loss terms a step computes, whether the learned
 * uncertainties (s1, s2) join them (eq. 8), and what the input is:
 *
 * | variant         | Table 3 row                  | terms                                | input               |
 * | --------------- | ---------------------------- | ------------------------------------ | ------------------- |
 * | `resnest`       | 2, ResNeSt-50                | weighted CE (the loss)               | CT                  |
 * | `mixup`         | 3, ResNeSt-50 + mixup        | weighted CE + mixup (a plain sum)    | CT                  |
 * | `cmc`           | 4, CMC (the default)         | contrastive, mixup, CE joined by s1, s2 | CT               |
 * | `lung-cmc`      | 5, lung-aware CMC            | as `cmc`                             | [lung mask, CT]     |
 * | `infection-cmc` | 6, infection-aware CMC       | as `cmc`                             | [infection mask, CT] |
 *
 * Every variant trains on the two augmented views of each scan (augmentation A): the plain
 * baselines see the same augmented 2N volumes a step, only without the passes and terms they
 * do not use (`resnest` makes one backbone pass, the others three).
 */

export const CMC_VARIANTS = ['resnest', 'mixup', 'cmc', 'lung-cmc', 'infection-cmc'] as const;

export type CmcVariant = (typeof CMC_VARIANTS)[number];

/** The variant a run trains when it names none (with 1 input channel; 2 channels mean `infection-cmc`). */
export const DEFAULT_CMC_VARIANT: CmcVariant = 'cmc';

export interface CmcVariantSpec {
  /** For people: the Table 3 row's name. */
  readonly title: string;
  /** The supervised contrastive term (eq. 4) on the projections of the 2N views. */
  readonly contrastive: boolean;
  /** The mixup term (eq. 6): two more backbone passes, one per view's mixed batch. */
  readonly mixup: boolean;
  /** Joined by the learned log-variances s1, s2 (eq. 8); otherwise the terms are summed. */
  readonly joint: boolean;
  /** 1: CT; 2: [mask, CT]. */
  readonly inChannels: 1 | 2;
  /** What `CmcScan.mask` must hold for a 2-channel variant. */
  readonly mask?: 'lung' | 'infection';
}

export const CMC_VARIANT_SPECS: Readonly<Record<CmcVariant, CmcVariantSpec>> = {
  resnest: { title: 'ResNeSt (weighted CE)', contrastive: false, mixup: false, joint: false, inChannels: 1 },
  mixup: { title: 'ResNeSt + mixup', contrastive: false, mixup: true, joint: false, inChannels: 1 },
  cmc: { title: 'CMC', contrastive: true, mixup: true, joint: true, inChannels: 1 },
  'lung-cmc': { title: 'lung-aware CMC', contrastive: true, mixup: true, joint: true, inChannels: 2, mask: 'lung' },
  'infection-cmc': {
    title: 'infection-aware CMC',
    contrastive: true,
    mixup: true,
    joint: true,
    inChannels: 2,
    mask: 'infection',
  },
};

/** The spec of a variant; an unknown name is refused with the list. */
export function cmcVariantSpec(variant: CmcVariant = DEFAULT_CMC_VARIANT): CmcVariantSpec {
  const spec = CMC_VARIANT_SPECS[variant];
  if (spec === undefined) throw new RangeError(`unknown CMC variant ${JSON.stringify(variant)} (${CMC_VARIANTS.join(', ')})`);
  return spec;
}

/**
 * The variant and its input channels from what a run said. `inChannels` follows from the
 * variant; given as well, it must agree. Neither: `cmc`. Only `inChannels` (runs made before
 * variants existed): 1 is `cmc`, 2 is `infection-cmc`.
 */
export function resolveCmcVariant(options: {
  readonly variant?: CmcVariant | undefined;
  readonly inChannels?: 1 | 2 | undefined;
}): {
  variant: CmcVariant;
  inChannels: 1 | 2;
} {
  const { variant, inChannels } = options;
  if (inChannels !== undefined && inChannels !== 1 && inChannels !== 2)
    throw new RangeError(`inChannels must be 1 (CT) or 2 ([mask, CT]), got ${inChannels}`);
  if (variant === undefined)
    return { variant: inChannels === 2 ? 'infection-cmc' : DEFAULT_CMC_VARIANT, inChannels: inChannels ?? 1 };
  const spec = cmcVariantSpec(variant);
  if (inChannels !== undefined && inChannels !== spec.inChannels) {
    const input = spec.inChannels === 2 ? `[${spec.mask} mask, CT]` : 'CT alone';
    throw new RangeError(
      `variant '${variant}' (${spec.title}) takes ${input}, ${spec.inChannels} input channel(s), but inChannels is ${inChannels}; ` +
        `leave inChannels out (it follows from the variant) or pick a variant with ${inChannels} channel(s)`,
    );
  }
  return { variant, inChannels: spec.inChannels };
}

/**
 * Whether a run's stored config names its variant: not when `inChannels` alone implies it (`cmc`
 * with 1 channel, `infection-cmc` with 2), so the stored config of those runs is the one stored
 * before variants existed and their run folders resume.
 */
export function storesCmcVariant(variant: CmcVariant): boolean {
  return variant !== resolveCmcVariant({ inChannels: cmcVariantSpec(variant).inChannels }).variant;
}
