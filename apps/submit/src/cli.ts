#!/usr/bin/env node
// The `pnpm submit` entry point: exit statuses from `runCli` (2 for usage and input errors).
import { runCli } from '@covsev/cli';
import { main } from './submit.js';

await runCli('submit', main);
