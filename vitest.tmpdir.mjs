// vitest globalSetup: every test run of a package writes its temporary files (mkdtemp(tmpdir()))
// under one fresh folder, removed when the run ends, so test runs leave nothing in the system's
// temp folder. COVSEV_KEEP_TEST_TMP=1 keeps it (the path is printed) for looking at what a test wrote.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export default function setup() {
  const dir = mkdtempSync(join(tmpdir(), `covsev-tests-${basename(process.cwd())}-`));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (process.env.COVSEV_KEEP_TEST_TMP === '1') console.log(`test files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
