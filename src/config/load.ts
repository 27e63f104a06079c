import * as fs from 'node:fs';
import YAML from 'yaml';
import { ConfigError, type SearchConfig, validateSearchConfig } from './search-config';
import { checkSearchConfig } from './semantic';

/** Read a YAML (or JSON) search configuration, reporting every bad field with its path, or the syntax error's line. */
export function loadSearchConfig(file: string): SearchConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) throw new ConfigError(file, doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0] })));
  return parseSearchConfig(doc.toJS(), file);
}

/** Schema, then the rules across fields. */
export function parseSearchConfig(raw: unknown, source: string): SearchConfig {
  const config = validateSearchConfig(raw, source);
  try {
    checkSearchConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(source, err.issues);
    throw err;
  }
  return config;
}
