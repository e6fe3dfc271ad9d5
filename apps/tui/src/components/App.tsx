/**
 * The dashboard: follows a run's event logs and shows its panels. Owns the state (the run folded
 * by `reduceRun`, plus panels, help and the control channel); the panels are presentational.
 * 160 x 48 and up shows every panel; smaller terminals show one or two, switched with tab or
 * the number keys. `q` stops a live run through the control channel and quits once it answers.
 */
import { Box, Text, useApp } from 'ink';
import { useCallback, useEffect } from 'react';
import { type ControlCommand, sendControl as sendControlLine } from '../control.js';
import { clip } from '../format.js';
import { useDashboardKeys } from '../hooks/use-dashboard-keys.js';
import { useFollowEvents } from '../hooks/use-follow-events.js';
import { useNow } from '../hooks/use-now.js';
import { type TerminalSize, useTerminalSize } from '../hooks/use-terminal-size.js';
import { processAlive, type RunPaths } from '../run-folder.js';
import { stopAnswered } from '../state/dashboard.js';
import { hasEnded, isRunOver, phaseLabel, type RunKind } from '../state/run-state.js';
import { useRunState } from '../state/use-run-state.js';
import type { TrainChild } from '../train/start.js';
import { Chart } from './Chart.js';
import { ClassScores, scoresPanelName } from './ClassScores.js';
import { EpochLog } from './EpochLog.js';
import { Header } from './Header.js';
import { Help } from './Help.js';
import { Losses } from './Losses.js';
import { Memory } from './Memory.js';
import { Progress } from './Progress.js';
import { Stages } from './Stages.js';
import { Throughput } from './Throughput.js';

export const PANELS = ['Losses', 'Chart', 'Classes', 'Throughput + memory', 'Stages'] as const;

/** The panels' names for a run: the third shows a segmentation run's validation scores. */
export function panelNames(kind: RunKind | undefined): readonly string[] {
  return PANELS.map((p, i) => (i === 2 ? scoresPanelName(kind) : p));
}

export interface AppProps {
  readonly paths: RunPaths;
  /** The terminal's size; default: read from stdout, updated on resize. */
  readonly size?: TerminalSize;
  /** Polling interval of the logs (default 200 ms). */
  readonly intervalMs?: number;
  /** The training child (`train`): its notes, exit and error are shown; `q` waits for its exit. */
  readonly child?: TrainChild;
  /** Writes a control line (default: `control.ts`). */
  readonly sendControl?: (runDir: string, command: ControlCommand) => Promise<string>;
  /** Whether a run's writer still runs (default: `process.kill(pid, 0)`). */
  readonly alive?: (pid: number | undefined) => boolean;
}

/** How many panels fit: all at 150 x 40 and up, two at 110 x 30, else one. */
export function panelsShown(size: TerminalSize): number {
  if (size.columns >= 150 && size.rows >= 40) return PANELS.length;
  if (size.columns >= 110 && size.rows >= 30) return 2;
  return 1;
}

export function App({
  paths,
  size: sizeProp,
  intervalMs = 200,
  child,
  sendControl = sendControlLine,
  alive = processAlive,
}: AppProps) {
  const { exit } = useApp();
  const measured = useTerminalSize();
  const size = sizeProp ?? measured;
  const columns = Math.max(10, size.columns);
  const now = useNow(1000);
  const [state, dispatch] = useRunState();
  const logs = [paths.stageLog, paths.trainLog].filter((p): p is string => p !== undefined);
  useFollowEvents(logs, (events) => dispatch({ type: 'events', events }), intervalMs);

  useEffect(() => {
    if (child === undefined) return;
    return child.subscribe((message) => {
      if (message.type === 'note') dispatch({ type: 'child-note', note: message.note });
      else if (message.type === 'started') dispatch({ type: 'child-started' });
      else dispatch({ type: 'child-exit', code: message.code, ...(message.error === undefined ? {} : { error: message.error }) });
    });
  }, [child, dispatch]);

  const run = state.run;
  const writerAlive = alive(run.pid);
  const childRunning = child !== undefined && state.child?.status !== 'exited';
  const over = child === undefined ? isRunOver(run, paths.stageLog !== undefined, writerAlive) : !childRunning;
  const send = useCallback(
    (command: ControlCommand) => {
      sendControl(paths.trainDir, command).then(
        (id) => dispatch({ type: 'control-sent', id, command, time: Date.now() }),
        (error: unknown) =>
          dispatch({ type: 'control-failed', command, message: error instanceof Error ? error.message : String(error) }),
      );
    },
    [sendControl, paths.trainDir, dispatch],
  );

  // Quit once the stop is answered (and the training child, if any, has exited).
  useEffect(() => {
    if (state.stopping && stopAnswered(state) && !childRunning) exit();
  }, [state, childRunning, exit]);

  const count = PANELS.length;
  useDashboardKeys({
    onQuit: () => {
      if (over || state.stopping) {
        if (childRunning) child?.kill();
        exit();
        return;
      }
      if (run.phase === 'waiting' || hasEnded(run)) {
        // Nothing to stop yet (or the training is over but the child still runs): end the child.
        if (childRunning) {
          child?.kill();
          dispatch({ type: 'stopping' });
          return;
        }
        exit();
        return;
      }
      dispatch({ type: 'stopping' });
      send('stop');
    },
    onCheckpoint: () => {
      if (!over && !hasEnded(run)) send('checkpoint');
    },
    onCyclePanel: (step) => dispatch({ type: 'cycle-panel', step, count }),
    onPanel: (index) => dispatch({ type: 'panel', index, count }),
    onHelp: () => dispatch({ type: 'help' }),
  });

  const shown = panelsShown(size);
  const all = shown >= count;
  const bodyRows = Math.max(4, size.rows - 9);
  const panelWidth = all ? Math.floor(columns / 3) - 1 : shown === 2 ? Math.floor(columns / 2) - 1 : columns;
  const render = (index: number, width: number, rows: number) => {
    switch (index) {
      case 0:
        return <Losses state={run} width={width} />;
      case 1:
        return <Chart state={run} width={width} height={rows} />;
      case 2:
        return <ClassScores state={run} width={width} />;
      case 3:
        return (
          <Box flexDirection="column">
            <Throughput state={run} />
            <Memory state={run} />
          </Box>
        );
      default:
        return <Stages state={run} width={width} />;
    }
  };
  const names = panelNames(run.kind);
  const phase = phaseLabel(run, writerAlive);
  const title = clip(paths.dir, Math.max(8, columns - 60));
  const notice = state.child?.error ?? state.notice ?? state.child?.note;
  const keysLine = `q ${over ? 'quit' : state.stopping ? 'quit now' : 'stop'} · c checkpoint · tab/1-${count} panels · ? help`;

  return (
    <>
      <EpochLog state={run} width={columns} />
      <Box flexDirection="column" width={columns}>
        <Header state={run} title={title} phase={state.stopping && !hasEnded(run) ? 'stopping' : phase} />
        <Progress state={run} width={columns} now={now} />
        {run.error === undefined ? null : (
          <Text color="red" wrap="truncate-end">
            error: {run.error.name}: {run.error.message}
            {run.error.epoch === undefined
              ? ''
              : ` (epoch ${run.error.epoch + 1}${run.error.step === undefined ? '' : `, step ${run.error.step + 1}`})`}
          </Text>
        )}
        {all ? null : (
          <Text wrap="truncate-end">
            {names.map((p, i) => {
              const active = i === state.panel || (shown === 2 && i === (state.panel + 1) % count);
              return (
                <Text key={p} {...(active ? { inverse: true } : { dimColor: true })}>
                  {` ${i + 1} ${p} `}
                </Text>
              );
            })}
          </Text>
        )}
        {state.help ? (
          <Help panels={names} finished={over} />
        ) : all ? (
          <Box flexDirection="column">
            <Box>
              {[0, 2, 3].map((i) => (
                <Box key={i} width={panelWidth} marginRight={1} flexDirection="column">
                  {render(i, panelWidth, bodyRows)}
                </Box>
              ))}
            </Box>
            <Box>
              <Box width={Math.floor((columns * 2) / 3) - 1} marginRight={1} flexDirection="column">
                {render(1, Math.floor((columns * 2) / 3) - 1, Math.max(8, bodyRows - 12))}
              </Box>
              <Box width={panelWidth} flexDirection="column">
                {render(4, panelWidth, bodyRows)}
              </Box>
            </Box>
          </Box>
        ) : (
          <Box height={bodyRows} overflow="hidden">
            {Array.from({ length: shown }, (_, k) => (state.panel + k) % count).map((i) => (
              <Box key={i} width={panelWidth} flexDirection="column" marginRight={shown > 1 ? 1 : 0}>
                {render(i, shown > 1 ? panelWidth - 1 : panelWidth, bodyRows)}
              </Box>
            ))}
          </Box>
        )}
        {notice === undefined ? null : (
          <Text wrap="truncate-end" {...(state.child?.error === undefined ? { color: 'yellow' } : { color: 'red' })}>
            {notice}
          </Text>
        )}
        <Text dimColor wrap="truncate-end">
          {keysLine}
        </Text>
      </Box>
    </>
  );
}
