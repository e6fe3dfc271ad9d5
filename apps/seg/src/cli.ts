#!/usr/bin/env node
// The `pnpm seg` entry point: exit statuses from `runCli` (2 for usage and input errors).
import { runCli } from '@covsev/cli';
import { main } from './seg.js';

await runCli('seg', main);
