// Starts the real `cairn serve` on a free port (CAIRN_BIND=127.0.0.1:0) against a
// fresh database, and hands its address to the tests through CAIRN_BASE_URL.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export default async function globalSetup() {
  const bin = process.env.CAIRN_BIN;
  const admin = process.env.DATABASE_URL;
  if (!bin || !admin) throw new Error('CAIRN_BIN and DATABASE_URL must be set (make e2e sets both)');
  const db = `cairn_e2e_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const url = new URL(admin);
  url.pathname = `/${db}`;
  const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-e2e-'));
  const env = {
    ...process.env,
    DATABASE_URL: url.toString(),
    CAIRN_CREATE_DB: 'true',
    RUST_LOG: process.env.RUST_LOG || 'warn',
  };
  // The first admin, as `make run` creates it (password on stdin).
  const adminPassword = `e2e-${randomBytes(12).toString('hex')}`;
  execFileSync(bin, ['user', 'add', 'admin', '--role', 'admin'], { env, input: adminPassword + '\n' });
  process.env.CAIRN_ADMIN_PASSWORD = adminPassword;
  const child = spawn(bin, ['serve'], {
    env: {
      ...env,
      CAIRN_BIND: '127.0.0.1:0',
      CAIRN_ARTIFACTS: artifacts,
      CAIRN_SECRET_KEY: randomBytes(32).toString('hex'),
      // The dataset import tests read the shared data folder and query this
      // instance's own database as a SQL source.
      CAIRN_DATA_PATH_ALLOW: path.resolve(__dirname, '../testdata'),
      CAIRN_SQL_SOURCE_ALLOW: `${url.hostname}:${url.port || '5432'}`,
      // The command-trainer test runs examples/command-trainer/baseline.py; the
      // pipelines test runs sh command steps.
      CAIRN_COMMAND_ALLOW: 'python3,sh',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl: string = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`cairn did not start within 60 s; output:\n${out}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk.toString();
      const m = out.match(/cairn listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`cairn exited with ${code} before listening:\n${out}`)); });
  });
  child.stdout!.resume();
  process.env.CAIRN_BASE_URL = baseUrl;
  process.env.CAIRN_E2E_DB = db;
  process.env.CAIRN_E2E_DB_URL = url.toString();
  process.env.CAIRN_E2E_PID = String(child.pid);
  (globalThis as any).__cairn = { child, db, artifacts, admin };
}
