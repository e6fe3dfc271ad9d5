/** Classifier inference: softmax probabilities of un-augmented scans, and the class they pick. */
import * as tf from '@tensorflow/tfjs';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';

/** Softmax probabilities [scans][4] of un-augmented scans, in eval mode, `batch` at a time. */
export function predictCmc(model: CmcNetwork, scans: readonly CmcScan[], inChannels: 1 | 2, batch = 2): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < scans.length; i += batch) {
    const chunk = scans.slice(i, i + batch);
    const probs = tf.tidy(() => {
      const x = scansToInput(chunk, inChannels);
      return tf.softmax(model.apply(x, { training: false }) as tf.Tensor2D).arraySync() as number[][];
    });
    out.push(...probs);
  }
  return out;
}

/** The index of the largest probability (the first on a tie); -1 for none. */
export function argmax(probabilities: readonly number[]): number {
  return probabilities.indexOf(Math.max(...probabilities));
}
