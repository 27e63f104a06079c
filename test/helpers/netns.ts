import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep } from './processes';

/*
 * Hosts for tests, made of Linux network namespaces (root only): each host is a namespace with one veth link to a
 * bridge in the test's own namespace, an address of its own, and a private /tmp (its own folder on disk, bind-mounted
 * over /tmp in every process started on it), so no directory is shared by two hosts. The test process itself sits on
 * the bridge like an operator's machine: it reaches every host, and every host reaches it.
 *
 * Names carry the test process's pid and a random tag, so a leftover of a killed run never collides with a new one;
 * create() removes the leftovers of runs whose process is gone.
 */

const PREFIX = 'easmh';
/** Marks a bridge as ours (`ip link … alias`), with the pid of the run that made it. */
const ALIAS = (pid: number) => `${PREFIX} pid=${pid}`;

function ip(args: string[], opts: { allowFail?: boolean } = {}): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    if (opts.allowFail) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Why these tests cannot run here, or undefined: they need root, `ip` and network namespaces. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return '`ip` (iproute2) is not installed: apt-get install iproute2';
  }
  return undefined;
}

function namespaces(): string[] {
  return ip(['netns', 'list'], { allowFail: true })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
}

function nsPids(ns: string): number[] {
  return ip(['netns', 'pids', ns], { allowFail: true })
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

/** SIGKILLs every process in the namespace until none is left (a dying process's children are caught on the next pass). */
async function killAllIn(ns: string, timeoutMs = 10_000): Promise<number> {
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = nsPids(ns).filter(alive);
    if (pids.length === 0) return killed.size;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // gone already
      }
    }
    if (Date.now() > deadline) throw new Error(`processes in network namespace ${ns} survived SIGKILL for ${timeoutMs} ms: ${pids.join(', ')}`);
    await sleep(50);
  }
}

/** Removes the namespaces, bridges (and so their veth links) and folders left by runs whose test process is gone. */
export async function sweepStaleNetworks(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of namespaces()) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(ns);
    if (!m || alive(Number(m[1]))) continue;
    await killAllIn(ns);
    ip(['netns', 'del', ns], { allowFail: true });
    removed.push(ns);
  }
  for (const d of fs.readdirSync(os.tmpdir())) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(d);
    if (!m || alive(Number(m[1]))) continue;
    fs.rmSync(path.join(os.tmpdir(), d), { recursive: true, force: true });
    removed.push(d);
  }
  const links = JSON.parse(ip(['-j', '-d', 'link', 'show', 'type', 'bridge'], { allowFail: true }) || '[]') as { ifname: string; ifalias?: string }[];
  for (const l of links) {
    const m = new RegExp(`^${PREFIX} pid=(\\d+)$`).exec(l.ifalias ?? '');
    if (!m || alive(Number(m[1]))) continue;
    ip(['link', 'del', l.ifname], { allowFail: true });
    removed.push(l.ifname);
  }
  return removed;
}

/** A /24 in 10.200.0.0–10.250.255.0 that no interface of this machine uses. */
function freeSubnet(): string {
  const used = ip(['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 200; i++) {
    const net = `10.${200 + Math.floor(Math.random() * 51)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(` ${net}.`)) return net;
  }
  throw new Error('no free 10.2xx.x.0/24 subnet for the test network');
}

export interface Host {
  name: string;
  /** Network namespace. */
  ns: string;
  ip: string;
  /** The host's end of the link in the test's namespace: `ip link set <veth> down` cuts the host off. */
  veth: string;
  /** The host's private folder, seen as /tmp by its processes (and at this path by the test). */
  dir: string;
}

export interface HostProcess {
  host: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface SpawnOnHost {
  env?: NodeJS.ProcessEnv;
  /** Working directory as the host sees it (default /tmp, the host's own folder). */
  cwd?: string;
  /** Output to keep (the tail): default 1 MB. */
  keep?: number;
}

export class TestNetwork {
  private readonly hostsByName = new Map<string, Host>();
  private destroyed = false;

  private constructor(
    readonly tag: string,
    readonly bridge: string,
    /** The test's own address on the bridge. */
    readonly gateway: string,
    readonly baseDir: string,
  ) {}

  /** A bridge and one namespace per host name, each host with its address, its link and its private folder. */
  static async create(hostNames: readonly string[]): Promise<TestNetwork> {
    const why = netnsUnavailable();
    if (why) throw new Error(why);
    // every host's processes see their own folder as /tmp: a checkout under /tmp would be hidden from them
    const checkout = path.resolve(__dirname, '..', '..');
    if (checkout === '/tmp' || checkout.startsWith('/tmp/'))
      throw new Error(`multi-host test: the checkout ${checkout} is under /tmp, which every simulated host replaces with a folder of its own, so its processes could not run eas from it; clone the repository outside /tmp`);
    await sweepStaleNetworks();
    const rand = Math.random().toString(36).slice(2, 4);
    // Interface names have at most 15 characters: "eb" + pid in base 36 (≤ 5) + 2 random + host index.
    const tag = `${process.pid.toString(36)}${rand}`;
    const net = freeSubnet();
    const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-${process.pid}-`));
    const n = new TestNetwork(tag, `eb${tag}`, `${net}.1`, baseDir);
    try {
      ip(['link', 'add', n.bridge, 'type', 'bridge']);
      ip(['link', 'set', n.bridge, 'alias', ALIAS(process.pid)]);
      ip(['addr', 'add', `${n.gateway}/24`, 'dev', n.bridge]);
      ip(['link', 'set', n.bridge, 'up']);
      hostNames.forEach((name, i) => {
        if (!/^[a-z][a-z0-9]*$/.test(name)) throw new Error(`host name "${name}": lower-case letters and digits only`);
        const ns = `${PREFIX}-${process.pid}-${rand}-${name}`;
        const veth = `eh${tag}${i.toString(36)}`;
        const host: Host = { name, ns, ip: `${net}.${i + 2}`, veth, dir: path.join(baseDir, name) };
        fs.mkdirSync(host.dir, { mode: 0o1777 });
        ip(['netns', 'add', ns]);
        n.hostsByName.set(name, host);
        ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`, 'netns', ns]);
        ip(['-n', ns, 'link', 'set', `${veth}p`, 'name', 'eth0']);
        ip(['-n', ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        ip(['link', 'set', veth, 'master', n.bridge]);
        ip(['link', 'set', veth, 'up']);
      });
    } catch (err) {
      await n.destroy();
      throw err;
    }
    return n;
  }

  host(name: string): Host {
    const h = this.hostsByName.get(name);
    if (!h) throw new Error(`no host "${name}" in the test network (hosts: ${[...this.hostsByName.keys()].join(', ')})`);
    return h;
  }

  get hosts(): Host[] {
    return [...this.hostsByName.values()];
  }

  /**
   * Starts `cmd args…` on the host: in its namespace, with its folder bind-mounted over /tmp (a mount private to the
   * process and its children: `ip netns exec` gives each command its own mount namespace), HOME and TMPDIR there too.
   */
  spawn(hostName: string, cmd: string, args: readonly string[], opts: SpawnOnHost = {}): HostProcess {
    const h = this.host(hostName);
    const script = 'mount --bind "$0" /tmp && cd "$1" && shift && exec "$@"';
    const child = spawn('ip', ['netns', 'exec', h.ns, 'sh', '-c', script, h.dir, opts.cwd ?? '/tmp', cmd, ...args], {
      env: { ...process.env, HOME: '/tmp', TMPDIR: '/tmp', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = opts.keep ?? 1 << 20;
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.length > 2 * keep) out = out.slice(-keep);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const p: HostProcess = { host: hostName, child, output: () => out, exited };
    return p;
  }

  /** Every process running on the host (by namespace, so children and grandchildren too). */
  pids(hostName: string): number[] {
    return nsPids(this.host(hostName).ns).filter(alive);
  }

  /** A host crash: SIGKILL to every process on it. Returns how many were killed. */
  killHost(hostName: string): Promise<number> {
    return killAllIn(this.host(hostName).ns);
  }

  /** Unplugs the host's cable: its processes live on but reach nothing, and nothing reaches them. */
  cut(hostName: string): void {
    ip(['link', 'set', this.host(hostName).veth, 'down']);
  }

  restore(hostName: string): void {
    ip(['link', 'set', this.host(hostName).veth, 'up']);
  }

  /** Kills every process on every host, deletes the namespaces and the bridge (their links go with them) and the folders. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const errors: string[] = [];
    for (const h of this.hostsByName.values()) {
      try {
        await killAllIn(h.ns);
      } catch (err) {
        errors.push((err as Error).message);
      }
      ip(['netns', 'del', h.ns], { allowFail: true });
    }
    ip(['link', 'del', this.bridge], { allowFail: true });
    fs.rmSync(this.baseDir, { recursive: true, force: true });
    const left = namespaces().filter((ns) => ns.startsWith(`${PREFIX}-${process.pid}-`));
    if (left.length || errors.length) throw new Error(`test network not fully removed: ${[...errors, ...left].join('; ')}`);
  }
}
