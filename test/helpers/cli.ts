/** `eas <args>` run in this process (src/cli/main): its exit code and the lines it printed with console.log; process.exitCode is restored. */
export async function runEasInProcess(args: string[]): Promise<{ code: number; lines: string[] }> {
  const { main } = await import('../../src/cli/main');
  const lines: string[] = [];
  const log = console.log;
  const saved = process.exitCode;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { code: await main(['node', 'eas', ...args]), lines };
  } finally {
    console.log = log;
    process.exitCode = saved;
  }
}
