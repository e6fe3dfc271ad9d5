/**
 * The classifier on onnxruntime (docs/method.md, "Inference"): a model's eval-mode graph exported
 * with engine's `buildOnnxModel` (batch norm folded into the convolutions) and opened as an
 * `OnnxSession`, once per model, input shape and session options.
 *
 * The cache is keyed by the model instance (a WeakMap, so a dropped model drops its entries) and
 * checked against the identity of its variables' data: tfjs' `Variable.assign` gives a variable
 * new data, and every weight change in covsev goes through it (the optimizers, batch norm's
 * running statistics, `loadTorchStateDict`, the data-parallel weight sync). A model trained or
 * loaded after its session was made is therefore exported again on its next prediction; nothing
 * has to be invalidated by hand. `releaseCmcOnnxSessions` frees a model's sessions early.
 */
import { buildOnnxModel, OnnxSession, type OnnxSessionOptions } from '@covsev/engine';
import type { CmcNetwork } from '../models/cmcNetwork.js';

interface CachedSession {
  readonly key: string;
  readonly session: Promise<OnnxSession>;
}

interface ModelSessions {
  /** The variables' data objects when the sessions were exported. */
  readonly weights: readonly object[];
  readonly entries: CachedSession[];
}

const cache = new WeakMap<CmcNetwork, ModelSessions>();

/** Counts of exports, for tests and logs (how often a model's graph was built). */
export const cmcOnnxExports = { count: 0 };

function weightsOf(model: CmcNetwork): object[] {
  return [...model.parameters(), ...model.buffers()].map(({ variable }) => variable.dataId as object);
}

function sameWeights(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/**
 * The onnxruntime session of `model`'s eval-mode graph for NCDHW inputs `[batch, inChannels, ...grid]`
 * (batch dynamic), exported on first use and reused while the model's weights stay the same.
 */
export async function cmcOnnxSession(
  model: CmcNetwork,
  inChannels: 1 | 2,
  grid: readonly [number, number, number],
  options: OnnxSessionOptions = {},
): Promise<OnnxSession> {
  const weights = weightsOf(model);
  let sessions = cache.get(model);
  if (sessions !== undefined && !sameWeights(sessions.weights, weights)) {
    await releaseCmcOnnxSessions(model);
    sessions = undefined;
  }
  if (sessions === undefined) {
    sessions = { weights, entries: [] };
    cache.set(model, sessions);
  }
  const key = JSON.stringify([inChannels, grid, options]);
  const found = sessions.entries.find((e) => e.key === key);
  if (found !== undefined) return found.session;
  const { bytes } = buildOnnxModel(model, [1, inChannels, ...grid]);
  cmcOnnxExports.count++;
  const session = OnnxSession.create(bytes, options);
  const entry = { key, session };
  sessions.entries.push(entry);
  const owner = sessions;
  session.catch(() => {
    const i = owner.entries.indexOf(entry);
    if (i >= 0) owner.entries.splice(i, 1);
  });
  return session;
}

/** Releases every cached onnxruntime session of `model` (the next prediction exports again). */
export async function releaseCmcOnnxSessions(model: CmcNetwork): Promise<void> {
  const sessions = cache.get(model);
  cache.delete(model);
  if (sessions === undefined) return;
  await Promise.all(
    sessions.entries.map(async (e) => {
      try {
        await (await e.session).release();
      } catch {
        // a session that failed to open has nothing to release
      }
    }),
  );
}
