#!/usr/bin/env node
/** `pnpm tui`: the training dashboard (see main.ts and README.md). */
import { runCli } from '@covsev/cli';
import { main } from './main.js';

// `pnpm tui -- follow RUN | head`: a closed pipe ends the output quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

await runCli('tui', main);
