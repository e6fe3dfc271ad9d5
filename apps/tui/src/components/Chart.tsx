/**
 * The loss curve per step and the validation metric per epoch (asciichart), with the best epoch
 * marked and its checkpoint named.
 */
import asciichart from 'asciichart';
import { Box, Text } from 'ink';
import { clip, fmt, metricLabel } from '../format.js';
import type { RunState } from '../state/run-state.js';

export interface ChartProps {
  readonly state: RunState;
  readonly width: number;
  /** Rows for both plots together. */
  readonly height: number;
}

const LABEL = (x: number): string => fmt(x, 3).padStart(8);

/** Averages `values` into at most `n` buckets. */
export function downsample(values: readonly number[], n: number): number[] {
  if (values.length <= n || n < 1) return values.slice();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * values.length) / n);
    const to = Math.max(from + 1, Math.floor(((i + 1) * values.length) / n));
    let sum = 0;
    for (let j = from; j < to; j++) sum += values[j] as number;
    out.push(sum / (to - from));
  }
  return out;
}

function plot(series: readonly number[], height: number): string[] {
  if (series.length === 0) return [];
  // A flat series (one epoch so far) gets a range above it, so its row is labelled with its value
  // (asciichart labels a zero range 0).
  const min = Math.min(...series);
  const flat = Math.max(...series) === min ? { min, max: min + (Math.abs(min) || 1) * 0.1 } : {};
  try {
    return asciichart.plot(series.slice(), { height: Math.max(1, height - 1), format: LABEL, ...flat }).split('\n');
  } catch {
    return [];
  }
}

export function Chart({ state, width, height }: ChartProps) {
  const plotWidth = Math.max(0, width - 11);
  if (plotWidth < 8 || height < 4) return <Text dimColor>(chart: the terminal is too small)</Text>;
  const lossRows = Math.max(2, Math.floor((height - 4) * 0.6));
  const metricRows = Math.max(2, height - 4 - lossRows);
  const loss = downsample(
    state.lossCurve.map((p) => p.value),
    plotWidth,
  );
  const metric = state.metricName;
  const epochs = state.epochRows.filter((r) => metric !== undefined && typeof r.metrics[metric] === 'number');
  const per = epochs.length === 0 ? 1 : Math.max(1, Math.min(8, Math.floor(plotWidth / epochs.length)));
  const shown = epochs.slice(-Math.floor(plotWidth / per));
  const metricSeries = shown.flatMap((r) => Array.from({ length: per }, () => r.metrics[metric as string] as number));
  const metricLines = plot(metricSeries, metricRows);
  const best = state.best;
  const bestIndex = best === undefined ? -1 : shown.findIndex((r) => r.epoch === best.epoch);
  const offset = (metricLines[0] ?? '').search(/[┤┼]/) + 1;
  const marker = bestIndex < 0 || offset <= 0 ? '' : `${' '.repeat(offset + bestIndex * per + Math.floor(per / 2))}▲ best`;
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        Loss per step ({state.curveKey ?? '-'}, {state.lossCurve.length} points)
      </Text>
      {loss.length === 0 ? (
        <Text dimColor>waiting for steps</Text>
      ) : (
        plot(loss, lossRows).map((line, i) => (
          <Text key={i} wrap="truncate-end" color="green">
            {line}
          </Text>
        ))
      )}
      <Text bold wrap="truncate-end">
        {metric === undefined ? 'validation metric' : metricLabel(metric)} per epoch
      </Text>
      {metricLines.length === 0 ? (
        <Text dimColor>waiting for the first epoch</Text>
      ) : (
        metricLines.map((line, i) => (
          <Text key={i} wrap="truncate-end" color="cyan">
            {line}
          </Text>
        ))
      )}
      {marker === '' ? null : (
        <Text wrap="truncate-end" color="yellow">
          {marker}
        </Text>
      )}
      {best === undefined ? null : (
        <Text wrap="truncate-end">
          {clip(
            `best: epoch ${best.epoch + 1}, ${metricLabel(best.metric)} ${fmt(best.value)}${best.path === undefined ? '' : ` -> ${best.path}`}`,
            Math.max(0, width),
          )}
        </Text>
      )}
    </Box>
  );
}
