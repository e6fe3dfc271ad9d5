/** Finished epochs, one line each, printed once above the live area (Ink's `<Static>`). */
import { Static, Text } from 'ink';
import { fmt, formatDuration } from '../format.js';
import type { EpochRow, RunState } from '../state/run-state.js';

export function epochLine(row: EpochRow, state: RunState): string {
  const metrics = Object.entries(row.metrics)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
  const best = state.best?.epoch === row.epoch ? ' *best' : '';
  return `epoch ${row.epoch + 1}/${state.epochs ?? '?'}: ${metrics}${row.ms === undefined ? '' : `, ${formatDuration(row.ms)}`}${best}`;
}

export function EpochLog({ state, width }: { readonly state: RunState; readonly width: number }) {
  return (
    <Static items={state.epochRows.map((row) => ({ row, key: `${row.epoch}-${row.time}` }))}>
      {({ row, key }) => (
        <Text key={key} wrap="truncate-end">
          {epochLine(row, state).slice(0, Math.max(1, width))}
        </Text>
      )}
    </Static>
  );
}
