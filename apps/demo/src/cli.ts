#!/usr/bin/env node
// The `pnpm demo` entry point: exit statuses from `runCli` (2 for usage and input errors).
import { runCli } from '@covsev/cli';
import { main } from './main.js';

await runCli('demo', main);
