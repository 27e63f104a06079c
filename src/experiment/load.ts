import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../config/search-config';
import { checkSearchConfig } from '../config/semantic';
import { type ChildSpec, type ExperimentConfig, validateExperimentConfig } from './config';

function readYaml(file: string, source: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(source, [{ path: '', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) throw new ConfigError(file, doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0] })));
  return doc.toJS();
}

/**
 * An experiment config file (YAML or JSON). Its `search` is the base search config inline, or a path to one (relative
 * to the experiment file), which is read and put inline, so the workflow's input holds everything. Every child's
 * search config is checked (schema and cross-field rules); every problem is reported at once.
 */
export function loadExperimentConfig(file: string): { config: ExperimentConfig; children: ChildSpec[] } {
  const raw = readYaml(file, file);
  if (typeof raw === 'object' && raw !== null && typeof (raw as { search?: unknown }).search === 'string') {
    const searchFile = path.resolve(path.dirname(file), (raw as { search: string }).search);
    (raw as { search: unknown }).search = readYaml(searchFile, `${file} (search: ${searchFile})`);
  }
  const v = validateExperimentConfig(raw, file);
  const issues: { path: string; message: string }[] = [];
  const checked = new Set<string>();
  for (const c of v.children) {
    if (checked.has(c.arm)) continue;
    checked.add(c.arm);
    try {
      checkSearchConfig(c.config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues.map((i) => ({ path: `arm ${c.arm}: ${i.path}`, message: i.message })));
    }
  }
  if (issues.length) throw new ConfigError(file, issues);
  return v;
}
