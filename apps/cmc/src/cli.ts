#!/usr/bin/env node
// The `pnpm cmc` entry point: exit statuses from `runCli` (2 for usage and input errors).
import { runCli } from '@covsev/cli';
import { main } from './cmc.js';

await runCli('cmc', main);
