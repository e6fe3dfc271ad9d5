/**
 * What every stage shares: the run it belongs to and where its events go. A stage writes its
 * events to `<run>/events.jsonl` (when it has a run folder) and hands each one to `onEvent`.
 */
import { join } from 'node:path';
import { EVENTS_FILE, type EventInput, EventLog, type PipelineStage, type StageEvent } from '@covsev/events';

export interface StageContext {
  /** The run folder (`runFolder`); without one, events only go to `onEvent`. */
  readonly runDir?: string;
  /** Receives every event of the stage as it happens (progress for a screen, a log). */
  readonly onEvent?: (event: StageEvent) => void;
}

export interface StageRecorder {
  progress(done: number, item?: string, cached?: boolean): void;
  /** Ends the stage: its outputs, a summary of counts and scores, and warnings for a person. */
  end(outputs: readonly string[], summary?: Record<string, number>, warnings?: readonly string[]): void;
}

/** Opens a stage: emits `stage-start` now, `stage-progress` per item, `stage-end` at the end. */
export function beginStage(
  context: StageContext,
  stage: PipelineStage,
  total?: number,
  detail?: Record<string, string | number | boolean>,
): StageRecorder {
  const started = performance.now();
  const emit = (input: EventInput<StageEvent>): void => {
    const event = { ...input, time: Date.now() } as StageEvent;
    if (context.runDir !== undefined) {
      const log = EventLog.open<StageEvent>(join(context.runDir, EVENTS_FILE));
      try {
        log.emit(input);
      } finally {
        log.close();
      }
    }
    context.onEvent?.(event);
  };
  emit({ type: 'stage-start', stage, ...(total === undefined ? {} : { total }), ...(detail === undefined ? {} : { detail }) });
  return {
    progress(done, item, cached) {
      emit({
        type: 'stage-progress',
        stage,
        done,
        total: total ?? done,
        ...(item === undefined ? {} : { item }),
        ...(cached === undefined ? {} : { cached }),
      });
    },
    end(outputs, summary, warnings) {
      emit({
        type: 'stage-end',
        stage,
        ms: performance.now() - started,
        outputs: [...outputs],
        ...(summary === undefined ? {} : { summary }),
        ...(warnings === undefined || warnings.length === 0 ? {} : { warnings: [...warnings] }),
      });
    },
  };
}
