#!/usr/bin/env node
// The `pnpm eval` entry point: exit statuses from `runCli` (2 for usage and input errors).
import { runCli } from '@covsev/cli';
import { main } from './eval.js';

await runCli('eval', main);
