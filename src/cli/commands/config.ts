import type { Command } from 'commander';
import { loadSearchConfig } from '../../config/load';

export function register(program: Command): void {
  const config = program.command('config').description('search configurations');
  config
    .command('render <file>')
    .description('print the configuration as the JSON workflow input, defaults filled in (for `temporal workflow start --input-file`)')
    .action((file: string) => {
      console.log(JSON.stringify(loadSearchConfig(file), null, 2));
    });
  config
    .command('validate <file>')
    .description('check a configuration; every bad field is listed with its path')
    .action((file: string) => {
      const c = loadSearchConfig(file);
      console.log(`${file}: valid (search "${c.name}", ${c.dataset.name}, ${c.stages.length} stages, ${c.stages.reduce((a, s) => a + s.networks, 0)} networks)`);
    });
}
