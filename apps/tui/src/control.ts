/**
 * The control channel to a running trainer (`@covsev/events`): `sendControl(runDir, command)`
 * appends one line `{"id", "command", "time"}` to `<trainingRunDir>/control.jsonl` and returns
 * the id; the trainer answers with a `control` event of that id in its events.jsonl
 * (`status: 'done' | 'refused'`), and a stop ends the run with `run-end` carrying `stopped: true`.
 * The training run folder is the one holding the training events (a pipeline run: `<run>/runs/cmc`).
 */
export { CONTROL_FILE, type ControlCommand, sendControl } from '@covsev/events';
