/**
 * Seeded randomness for training: one seed gives every random stream a trainer needs, each an
 * independent `Rng` (from `@covsev/io`) whose state a checkpoint stores.
 *
 * Streams are forked from `Rng.fromSeed(seed)` in a fixed order (data, augment, mixup, init,
 * then any added later at the end), so adding a stream never changes the existing ones.
 *
 * TensorFlow.js's own random ops (`tf.randomNormal`, `tf.randomUniform`, dropout,
 * `tf.initializers.*`) draw from `Math.random` unless given a seed. covsev never calls them
 * without one: pass `tfSeed(rngs.init)` (or the stream the draw belongs to) as their `seed`
 * argument, which makes the tf draw a pure function of the stream's state.
 */
import { Rng } from '@covsev/io';

/** The streams, by purpose. Each draws only for its purpose, so changing one leaves the rest. */
export const RNG_STREAMS = ['data', 'augment', 'mixup', 'init'] as const;
export type RngStreamName = (typeof RNG_STREAMS)[number];

/**
 * The streams of one run: `data` (shuffling, batch order), `augment` (crops, rotations,
 * contrast), `mixup` (lambda, partners), `init` (weight initialisation).
 *
 * Mutable on purpose: a resume replaces the streams in place (`restoreRngs`), so read them
 * through this object at each use rather than keeping a stream across epochs.
 */
export type RngStreams = Record<RngStreamName, Rng>;

/** Saved generator states by stream name (see `Rng.state()`). */
export type RngStates = Record<string, number[]>;

/** The run's streams from one integer seed. */
export function seedEverything(seed: number): RngStreams {
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const root = Rng.fromSeed(seed);
  const streams = {} as RngStreams;
  for (const name of RNG_STREAMS) streams[name] = root.fork();
  return streams;
}

/** The streams' states, for a checkpoint. */
export function rngStates(streams: RngStreams): RngStates {
  const out: RngStates = {};
  for (const name of RNG_STREAMS) out[name] = streams[name].state();
  return out;
}

/** The streams `states` lacks (empty when it can restore every stream). */
export function missingRngStreams(states: RngStates): RngStreamName[] {
  return RNG_STREAMS.filter((name) => !Array.isArray(states[name]));
}

/** Replaces each stream of `streams` with its saved state (in place); every stream must be saved. */
export function restoreRngs(streams: RngStreams, states: RngStates): RngStreams {
  const missing = missingRngStreams(states);
  if (missing.length > 0) throw new RangeError(`no saved state for RNG streams ${missing.join(', ')}`);
  for (const name of RNG_STREAMS) streams[name] = Rng.fromState(states[name] as number[]);
  return streams;
}

/** A seed for one tfjs random op, drawn from `rng` (an integer in [0, 2^31 - 1)). */
export function tfSeed(rng: Rng): number {
  return rng.int(0, 0x7ffffffe);
}
