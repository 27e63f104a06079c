/**
 * The run store on S3 against local disk: wall time of the quickstart (`eas dev --config configs/quickstart.yaml`) with
 * EAS_STORAGE_ROOT on a local SeaweedFS (`weed mini`, built by .ci/run; SEAWEEDFS_PATH or PATH) and then on local disk,
 * back to back, in one command (the host is noisy: only the ratio within one run counts).
 *
 *   npm run bench:store-s3 [-- --config configs/quickstart.yaml]
 *
 * Each run's output goes to bench/out/store-s3/<s3|local>.log; the last line is the ratio.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { startSeaweed } from '../test/helpers/seaweed';

const repo = path.join(__dirname, '..');
const out = path.join(repo, 'bench', 'out', 'store-s3');

async function run(label: string, config: string, env: NodeJS.ProcessEnv, port: number): Promise<number> {
  const t0 = Date.now();
  const child = spawn(process.execPath, ['bin/eas.js', 'dev', '--config', config, '--port', String(port), '--ui-port', String(port + 1), '--no-ui', '--no-progress'], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = fs.createWriteStream(path.join(out, `${label}.log`));
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const secs = (Date.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${label} run exited with ${code}: see ${path.join(out, `${label}.log`)}`);
  console.log(`${label}: wall ${secs.toFixed(1)} s (load average ${os.loadavg()[0].toFixed(1)})`);
  return secs;
}

async function main(): Promise<void> {
  const opts = new Command().option('--config <file>', 'the search to run', 'configs/quickstart.yaml').parse().opts<{ config: string }>();
  fs.mkdirSync(out, { recursive: true });
  const weed = await startSeaweed({ bucket: 'eas-bench' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-bench-s3-'));
  try {
    console.log(`cpu: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores`);
    const s3 = await run('s3', opts.config, { ...weed.env, EAS_STORAGE_ROOT: weed.url('runs'), EAS_CACHE_DIR: path.join(tmp, 'cache') }, 17450);
    const local = await run('local', opts.config, { EAS_STORAGE_ROOT: path.join(tmp, 'runs') }, 17460);
    console.log(JSON.stringify({ s3_wall_s: s3, local_wall_s: local, ratio_s3_over_local: Number((s3 / local).toFixed(3)) }));
  } finally {
    await weed.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
