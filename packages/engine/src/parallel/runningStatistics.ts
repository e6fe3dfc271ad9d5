/**
 * Running statistics of batch norm after a plan of micro-batches run by several workers.
 *
 * On one thread, each micro-batch of a step updates a batch norm's running statistics in turn,
 * r <- (1 - m) r + m s_i (PyTorch's momentum convention; `num_batches_tracked` counts). Workers
 * that each run a contiguous part of the plan from the same start r_0 end at
 * r_w = (1 - m)^l_w r_0 + c_w, where c_w holds their own part. Chaining the parts in plan order,
 * acc <- (1 - m)^l_w acc + (r_w - (1 - m)^l_w r_0), gives exactly the one-thread result, so a
 * step's outcome does not depend on how many workers ran it.
 */
import { BatchNorm } from '../layers/batchNorm.js';
import { Container, type Module, type NamedVariable } from '../module.js';
import { flatSpans } from './flatVariables.js';

/** How each buffer of a module is updated per micro-batch: decayed by momentum, or counted. */
export type StatisticUpdate = { readonly kind: 'momentum'; readonly momentum: number } | { readonly kind: 'count' };

/** The update rule of every batch-norm buffer in `root`, by its full name (`layer1.0.bn1.running_mean`). */
export function statisticUpdates(root: Module, prefix = ''): Map<string, StatisticUpdate> {
  const updates = new Map<string, StatisticUpdate>();
  const visit = (module: Module, at: string): void => {
    if (module instanceof BatchNorm) {
      const rule = { kind: 'momentum', momentum: module.momentum } as const;
      updates.set(`${at}running_mean`, rule);
      updates.set(`${at}running_var`, rule);
      updates.set(`${at}num_batches_tracked`, { kind: 'count' });
    } else if (module instanceof Container) {
      for (const [name, child] of module.children()) visit(child, `${at}${name}.`);
    }
  };
  visit(root, prefix);
  return updates;
}

/** One worker's part: the buffers' values after it ran `updates` micro-batches from the common start. */
export interface StatisticsPart {
  readonly values: Float32Array;
  readonly updates: number;
}

/**
 * The buffers after every part ran in order, as one thread running the whole plan would leave
 * them. `buffers` lists the buffers in the layout of `start` and of each part's values
 * (`flatSpans`); `rules` says how each is updated (`statisticUpdates`). Parts must be contiguous
 * runs of the plan, given in plan order (`assignMicroBatches`).
 */
export function chainRunningStatistics(
  buffers: readonly NamedVariable[],
  rules: ReadonlyMap<string, StatisticUpdate>,
  start: Float32Array,
  parts: readonly StatisticsPart[],
): Float32Array {
  const out = Float32Array.from(start);
  for (const [{ name }, from, to] of flatSpans(buffers)) {
    const rule = rules.get(name);
    if (rule === undefined) throw new RangeError(`buffer ${name} is not a batch-norm statistic: no rule to chain its updates`);
    for (let i = from; i < to; i++) {
      const r0 = start[i] as number;
      let acc = r0;
      for (const part of parts) {
        const r = part.values[i] as number;
        if (rule.kind === 'count') acc += r - r0;
        else {
          const keep = (1 - rule.momentum) ** part.updates;
          acc = keep * acc + (r - keep * r0);
        }
      }
      out[i] = acc;
    }
  }
  return out;
}
