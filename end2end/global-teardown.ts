// Stops the server with SIGTERM (it must shut down gracefully) and drops its database.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

export default async function globalTeardown() {
  const s = (globalThis as any).__cairn;
  if (!s) return;
  const exited = new Promise<number | null>((resolve) => s.child.on('exit', (code: number | null) => resolve(code)));
  s.child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000))]);
  if (code !== 0) {
    s.child.kill('SIGKILL');
    throw new Error(`cairn did not stop cleanly on SIGTERM (exit: ${code})`);
  }
  try {
    execFileSync('psql', [s.admin, '-qc', `drop database if exists "${s.db}" with (force)`], { stdio: 'ignore' });
  } catch { /* psql missing: the database is left for a later cleanup */ }
  fs.rmSync(s.artifacts, { recursive: true, force: true });
}
