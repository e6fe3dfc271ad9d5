// Entry point of the kill -9 test's child process, run through vite-node:
//   COVSEV_TINY_RUN='{"runDir":"...","sleepMs":150}' node vite-node.mjs --config vite-node.config.mjs trainChild.mjs
// Trains tinyRun.mjs on the cpu backend; exits 0 when done, 1 (message on stderr) on an error.
import * as tf from '@tensorflow/tfjs';
import { runTraining } from '../index.ts';
import { disposeTinyModel, tinyRunOptions } from './tinyRun.mjs';

const args = JSON.parse(process.env.COVSEV_TINY_RUN ?? '{}');
await tf.setBackend('cpu');
try {
  const result = await runTraining(tinyRunOptions(args));
  disposeTinyModel(result.model);
  console.log(JSON.stringify({ done: true, epochsRun: result.epochsRun, resumedFrom: result.resumedFrom ?? null }));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
