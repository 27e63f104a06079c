import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';

/**
 * `eas` entry point. Each file in ./commands registers one command (or a group) through `register(program)`,
 * so commands stay one concern per module.
 */
export function buildProgram(): Command {
  const program = new Command('eas')
    .description('Efficient Architecture Search by Network Transformation, as a durable Temporal pipeline')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: true });
  const dir = path.join(__dirname, 'commands');
  for (const file of fs.readdirSync(dir).sort()) {
    if (!/\.(ts|js)$/.test(file) || file.endsWith('.d.ts')) continue;
    const mod = require(path.join(dir, file)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    console.error(`eas: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.EAS_DEBUG && err instanceof Error) console.error(err.stack);
    return 1;
  }
}

if (require.main === module || process.argv[1]?.endsWith('eas.js') || process.argv[1]?.endsWith('eas')) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
