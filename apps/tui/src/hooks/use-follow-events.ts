/**
 * Follows event logs (`followEvents`, polling) and hands their events over in batches: all the
 * lines one read delivers become one call of `onEvents`, so a long finished log renders once,
 * not once per line.
 */
import { type CovsevEvent, followEvents } from '@covsev/events';
import { useEffect, useRef } from 'react';

export function useFollowEvents(
  logs: readonly string[],
  onEvents: (events: readonly CovsevEvent[]) => void,
  intervalMs = 200,
  onError?: (error: unknown) => void,
): void {
  const handler = useRef(onEvents);
  handler.current = onEvents;
  const errors = useRef(onError);
  errors.current = onError;
  const key = logs.join('\n');
  useEffect(() => {
    let batch: CovsevEvent[] = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      const events = batch;
      batch = [];
      if (events.length > 0) handler.current(events);
    };
    const followers = logs.map((log) =>
      followEvents(
        log,
        (event) => {
          batch.push(event);
          if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
        },
        { intervalMs, onError: (error) => errors.current?.(error) },
      ),
    );
    return () => {
      for (const f of followers) f.close();
    };
  }, [key, intervalMs]);
}
