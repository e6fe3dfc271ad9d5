#!/usr/bin/env node
// The `pnpm run doctor` entry point: exit statuses from `runCli` (2 for usage errors).
import { runCli } from '@covsev/cli';
import { main } from './doctor.js';

await runCli('doctor', main);
