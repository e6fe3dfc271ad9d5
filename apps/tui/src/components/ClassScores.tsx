/**
 * The scores panel. A classifier run: per-class F1 of the last epoch's report and its confusion
 * matrix (rows: truth, columns: predicted). A segmentation run (no classes): the last epoch's
 * validation scores (IoU, mIoU, Dice of the pooled validation pixels) as bars, and the best epoch.
 */
import { Box, Text } from 'ink';
import { bar, clip, fmt, metricLabel } from '../format.js';
import type { RunState } from '../state/run-state.js';

/** The panel's name in the tabs and the help: what it shows for this kind of run. */
export function scoresPanelName(kind: RunState['kind']): string {
  return kind === 'segmentation' ? 'Validation' : 'Classes';
}

function ValidationScores({ state, width }: ClassScoresProps) {
  const last = state.epochRows.at(-1);
  const scores = Object.entries(last?.metrics ?? {}).filter(([k]) => /^val/.test(k));
  const nameWidth = Math.max(4, Math.min(14, Math.max(0, ...scores.map(([k]) => metricLabel(k).length))));
  const barWidth = Math.max(1, Math.min(20, width - nameWidth - 8));
  const best = state.best;
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        Validation{last === undefined ? '' : ` (epoch ${last.epoch + 1})`}
      </Text>
      {scores.length === 0 ? (
        <Text dimColor wrap="truncate-end">
          {last === undefined ? 'waiting for the first epoch' : 'no validation scores in this run (no validation scans)'}
        </Text>
      ) : (
        scores.map(([key, value]) => (
          <Text key={key} wrap="truncate-end">
            {clip(metricLabel(key), nameWidth).padEnd(nameWidth)} {fmt(value, 3).padStart(5)}{' '}
            <Text color="cyan">{bar(value ?? 0, barWidth)}</Text>
          </Text>
        ))
      )}
      {best === undefined ? null : (
        <Text wrap="truncate-end">
          best {metricLabel(best.metric)} {fmt(best.value, 3)} at epoch {best.epoch + 1}
        </Text>
      )}
    </Box>
  );
}

export interface ClassScoresProps {
  readonly state: RunState;
  readonly width: number;
}

export function ClassScores({ state, width }: ClassScoresProps) {
  const report = state.report;
  if (report === undefined && state.kind === 'segmentation') return <ValidationScores state={state} width={width} />;
  if (report === undefined)
    return (
      <Box flexDirection="column">
        <Text bold>Classes</Text>
        <Text dimColor wrap="truncate-end">
          no per-class report in this run's epochs
        </Text>
      </Box>
    );
  const nameWidth = Math.max(4, Math.min(10, Math.max(0, ...report.classNames.map((n) => n.length))));
  const barWidth = Math.max(1, Math.min(20, width - nameWidth - 10));
  const cell = Math.max(4, ...report.confusion.flat().map((v) => String(v).length + 1));
  return (
    <Box flexDirection="column">
      <Text bold>Classes (last epoch)</Text>
      {report.classNames.map((name, i) => (
        <Text key={name} wrap="truncate-end">
          {clip(name, nameWidth).padEnd(nameWidth)} F1 {fmt(report.perClassF1[i], 3).padStart(5)}{' '}
          <Text color="cyan">{bar(report.perClassF1[i] ?? 0, barWidth)}</Text>
        </Text>
      ))}
      {report.confusion.length === 0 ? null : (
        <>
          <Text dimColor wrap="truncate-end">
            {'truth\\pred'.padEnd(nameWidth)} {report.classNames.map((n) => clip(n, cell - 1).padStart(cell)).join('')}
          </Text>
          {report.confusion.map((row, i) => (
            <Text key={i} wrap="truncate-end">
              {clip(report.classNames[i] ?? String(i), nameWidth).padEnd(nameWidth)}{' '}
              {row.map((v) => String(v).padStart(cell)).join('')}
            </Text>
          ))}
        </>
      )}
    </Box>
  );
}
