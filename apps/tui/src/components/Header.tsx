/** The run's identity: model, kind, input channels, backend, workers, seed, data, config hash. */
import { Box, Text } from 'ink';
import type { RunState } from '../state/run-state.js';

export interface HeaderProps {
  readonly state: RunState;
  readonly title: string;
  readonly phase: string;
}

function channels(n: number | undefined, lungMasked: boolean | undefined): string {
  if (n === undefined) return 'input ?';
  if (n === 1 && lungMasked === true) return 'lung-masked CT (1 ch)';
  return n === 2 ? 'mask + CT (2 ch)' : n === 1 ? 'CT (1 ch)' : `${n} channels`;
}

const PHASE_COLOR: Readonly<Record<string, string>> = { running: 'green', finished: 'cyan', stopped: 'yellow', failed: 'red' };

export function Header({ state, title, phase }: HeaderProps) {
  const workers =
    state.workers === undefined
      ? ''
      : ` · ${state.workers > 0 ? `${state.workers} gradient workers` : 'main thread'}${state.viewWorkers ? ` + ${state.viewWorkers} view workers` : ''}`;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>covsev</Text> <Text color={PHASE_COLOR[phase.split(' ')[0] ?? ''] ?? 'gray'}>[{phase}]</Text>{' '}
        {state.model ?? 'model ?'} · {state.kind ?? 'training'} · {channels(state.inChannels, state.lungMasked)}
      </Text>
      <Text wrap="truncate-end" dimColor>
        seed {state.seed ?? '?'}
        {workers} · config {state.configHash ?? '-'} · data {state.data ?? '?'}
        {state.resumedFrom === undefined ? '' : ` · resumed from ${state.resumedFrom}`}
      </Text>
      <Text wrap="truncate-end" dimColor>
        backend {state.backend ?? '?'}
        {state.backendInfo === undefined ? '' : ` (${state.backendInfo})`} · {title}
      </Text>
    </Box>
  );
}
