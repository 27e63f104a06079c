import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_INSTALL_HINT =
  `Install the Temporal CLI with Go: \`go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}\` ` +
  '(it lands in $(go env GOPATH)/bin), or download it from https://temporal.io/setup/install-temporal-cli, ' +
  'or set TEMPORAL_CLI_PATH to the binary.';

export class TemporalCliNotFoundError extends Error {
  constructor(tried: string[]) {
    super(`Temporal CLI not found (looked in: ${tried.join(', ')}). ${TEMPORAL_CLI_INSTALL_HINT}`);
    this.name = 'TemporalCliNotFoundError';
  }
}

const isExecutable = (p: string): boolean => {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

function goBin(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000, env }).trim();
    return gopath ? path.join(gopath.split(path.delimiter)[0], 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/** The Temporal CLI: env TEMPORAL_CLI_PATH, then PATH, then $(go env GOPATH)/bin. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new TemporalCliNotFoundError([`TEMPORAL_CLI_PATH=${explicit} (not an executable file)`]);
  }
  tried.push('TEMPORAL_CLI_PATH (unset)');
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, 'temporal');
    if (isExecutable(p)) return p;
  }
  tried.push('PATH');
  const gb = goBin(env);
  if (gb) {
    const p = path.join(gb, 'temporal');
    if (isExecutable(p)) return p;
    tried.push(gb);
  } else tried.push('$(go env GOPATH)/bin (go not found)');
  throw new TemporalCliNotFoundError(tried);
}
