/** Epoch and step bars with the step rate and the ETA. */
import { Box, Text } from 'ink';
import { bar, fmt, formatDuration } from '../format.js';
import { epochsDone, etaMs, hasEnded, type RunState } from '../state/run-state.js';

export interface ProgressProps {
  readonly state: RunState;
  readonly width: number;
  readonly now: number;
}

export function Progress({ state, width, now }: ProgressProps) {
  const epochs = state.epochs ?? 0;
  const done = epochsDone(state);
  const steps = state.stepsPerEpoch ?? 0;
  // A stopped or failed run stays where it stopped (epoch `state.epoch`, step `state.step`); a
  // finished one shows every epoch done.
  const finished = state.phase === 'finished';
  const stepDone = finished || done > state.epoch ? steps : state.step + 1;
  const barWidth = Math.max(4, Math.min(40, width - 44));
  const rate = state.avgStepMs !== undefined && state.avgStepMs > 0 ? `${fmt(1000 / state.avgStepMs, 3)} steps/s` : '- steps/s';
  const eta = etaMs(state, now);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        epoch {String(Math.min(done + (finished ? 0 : 1), Math.max(epochs, 1))).padStart(3)}/{epochs || '?'}{' '}
        <Text color="cyan">{bar(epochs > 0 ? done / epochs : 0, barWidth)}</Text>{' '}
        {epochs > 0 ? Math.floor((100 * done) / epochs) : 0}% · ETA{' '}
        {eta === undefined ? (hasEnded(state) ? (finished ? 'done' : state.phase) : '?') : formatDuration(eta)}
      </Text>
      <Text wrap="truncate-end">
        step {String(Math.max(0, stepDone)).padStart(4)}/{steps || '?'}{' '}
        <Text color="green">{bar(steps > 0 ? stepDone / steps : 0, barWidth)}</Text> {rate} · global step {state.globalStep}
      </Text>
    </Box>
  );
}
