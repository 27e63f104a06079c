import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { SEAWEEDFS_INSTALL_HINT } from './seaweedfs-version';

/**
 * A real S3-compatible server for tests: SeaweedFS's `weed mini` (master, volume, filer and S3 in one process).
 *
 *   const s3 = await startSeaweed();            // or startSeaweed({ bindIp: '10.0.0.1', bucket: 'runs' })
 *   // s3.endpoint 'http://127.0.0.1:<port>', s3.bucket, s3.url 's3://<bucket>/<prefix>'
 *   // s3.env: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for clients (workers, eas)
 *   await s3.stop();                            // kills weed and removes its data folder
 *
 * The binary: SEAWEEDFS_PATH, else `weed` on PATH, else $(go env GOPATH)/bin/weed; a clear error (how to build it)
 * when none exists. Ports are picked free (each port p and p+10000, weed's gRPC port), credentials are random per
 * server and given to weed through its environment. Startup waits (bounded) until S3 answers, then makes the bucket.
 */
export interface SeaweedOptions {
  /** Address weed listens on and the endpoint names (default 127.0.0.1); e.g. a network namespace's address. */
  bindIp?: string;
  /** Bucket created once S3 answers (default "eas-test"). */
  bucket?: string;
  /** Data folder (default: a fresh temporary one, removed by stop()). */
  dir?: string;
  /** Bounded wait for S3 to answer (default 60 s). */
  startTimeoutMs?: number;
  /** Extra environment for the weed process (e.g. to run it inside a namespace through a wrapper). */
  env?: NodeJS.ProcessEnv;
  /** Command prefix to run weed under, e.g. ['ip', 'netns', 'exec', 'ns-s3']; default none. */
  wrap?: string[];
}

export interface SeaweedServer {
  /** http://<bindIp>:<s3 port> */
  endpoint: string;
  bucket: string;
  /** Port of the S3 API. */
  s3Port: number;
  /** AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for any S3 client of this server. */
  env: Record<'AWS_ENDPOINT_URL' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY', string>;
  /** s3://<bucket>/<prefix> (prefix default: a fresh random one). */
  url(prefix?: string): string;
  /** The server's log (stdout and stderr), for failure messages. */
  log(): string;
  /** The weed process. */
  process: ChildProcess;
  /** Stops weed (SIGTERM, then SIGKILL after 5 s) and removes the data folder it made. */
  stop(): Promise<void>;
}

/** The weed binary: SEAWEEDFS_PATH, else PATH, else $(go env GOPATH)/bin/weed. Throws with the build hint when none exists. */
export function findWeed(): string {
  const given = process.env.SEAWEEDFS_PATH;
  if (given) {
    if (!fs.existsSync(given)) throw new Error(`SEAWEEDFS_PATH=${given} does not exist. ${SEAWEEDFS_INSTALL_HINT}`);
    return given;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.join(dir, 'weed');
    if (fs.existsSync(f)) return f;
  }
  let gopath: string;
  try {
    gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    gopath = path.join(os.homedir(), 'go');
  }
  const f = path.join(gopath.split(path.delimiter)[0] ?? '', 'bin', 'weed');
  if (fs.existsSync(f)) return f;
  throw new Error(`the SeaweedFS server binary (weed) was not found (looked at SEAWEEDFS_PATH, PATH and ${f}). ${SEAWEEDFS_INSTALL_HINT}`);
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A port p with p and p + 10000 (weed's gRPC) both free on `host`. */
async function freePortPair(host: string, taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 20000);
    if (taken.has(p) || taken.has(p + 10000)) continue;
    if ((await portFree(p, host)) && (await portFree(p + 10000, host))) {
      taken.add(p);
      taken.add(p + 10000);
      return p;
    }
  }
  throw new Error(`no free port pair (p, p+10000) found on ${host}`);
}

export async function startSeaweed(opts: SeaweedOptions = {}): Promise<SeaweedServer> {
  const weed = findWeed();
  const bindIp = opts.bindIp ?? '127.0.0.1';
  const bucket = opts.bucket ?? 'eas-test';
  const ownDir = !opts.dir;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'eas-weed-'));
  // Port checks run where this process runs; with `wrap` (another namespace) they are a best effort.
  const checkHost = opts.wrap ? '127.0.0.1' : bindIp;
  const taken = new Set<number>();
  const ports = {
    master: await freePortPair(checkHost, taken),
    volume: await freePortPair(checkHost, taken),
    filer: await freePortPair(checkHost, taken),
    s3: await freePortPair(checkHost, taken),
    webdav: await freePortPair(checkHost, taken),
    admin: await freePortPair(checkHost, taken),
  };
  const env = {
    AWS_ENDPOINT_URL: `http://${bindIp}:${ports.s3}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: `eastest${randomBytes(6).toString('hex')}`,
    AWS_SECRET_ACCESS_KEY: randomBytes(20).toString('hex'),
  };
  // Its logs (glog, a global flag) and the unix sockets it would put in /tmp go to the server's own folder.
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const args = [
    `-logdir=${path.join(dir, 'logs')}`,
    'mini',
    `-dir=${dir}`,
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
    `-ip=${bindIp}`,
    `-ip.bind=${bindIp}`,
    `-master.port=${ports.master}`,
    `-volume.port=${ports.volume}`,
    `-filer.port=${ports.filer}`,
    `-s3.port=${ports.s3}`,
    `-webdav.port=${ports.webdav}`,
    `-admin.port=${ports.admin}`,
    // Servers the tests do not use, off (their default ports are fixed, so two servers would collide on them).
    '-admin.port.legacy=0',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
  ];
  const [cmd, ...cmdArgs] = opts.wrap?.length ? [...opts.wrap, weed, ...args] : [weed, ...args];
  const child = spawn(cmd!, cmdArgs, {
    cwd: dir,
    env: { ...process.env, ...opts.env, AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-64_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `weed exited (${signal ?? `code ${code}`})`;
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const until = Date.now() + timeoutMs;
  try {
    let lastErr = '';
    for (;;) {
      if (exited) throw new Error(`${exited} before S3 answered on ${env.AWS_ENDPOINT_URL}:\n${output.slice(-4000)}`);
      try {
        await client.send(new ListBucketsCommand({}));
        break;
      } catch (err) {
        lastErr = (err as Error).message;
      }
      if (Date.now() > until) throw new Error(`weed mini: S3 did not answer on ${env.AWS_ENDPOINT_URL} within ${timeoutMs} ms (last: ${lastErr}):\n${output.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    for (;;) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        break;
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') break;
        if (Date.now() > until) throw new Error(`weed mini: cannot create bucket ${bucket}: ${(err as Error).message}\n${output.slice(-4000)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } catch (err) {
    client.destroy();
    await stop();
    throw err;
  }
  client.destroy();
  return {
    endpoint: env.AWS_ENDPOINT_URL,
    bucket,
    s3Port: ports.s3,
    env,
    url: (prefix?: string) => `s3://${bucket}/${prefix ?? `t-${randomBytes(4).toString('hex')}`}`,
    log: () => output,
    process: child,
    stop,
  };
}
