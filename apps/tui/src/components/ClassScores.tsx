/** Per-class F1 of the last epoch's report and its confusion matrix (rows: truth, columns: predicted). */
import { Box, Text } from 'ink';
import { bar, clip, fmt } from '../format.js';
import type { RunState } from '../state/run-state.js';

export interface ClassScoresProps {
  readonly state: RunState;
  readonly width: number;
}

export function ClassScores({ state, width }: ClassScoresProps) {
  const report = state.report;
  if (report === undefined)
    return (
      <Box flexDirection="column">
        <Text bold>Classes</Text>
        <Text dimColor wrap="truncate-end">
          no per-class report in this run's epochs
        </Text>
      </Box>
    );
  const nameWidth = Math.max(4, Math.min(10, ...report.classNames.map((n) => n.length)));
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
