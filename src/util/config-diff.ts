/** One field that differs between two configurations: where, the old value, the new one (undefined = absent). */
export interface FieldChange {
  path: string;
  old: unknown;
  new: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const join = (base: string, key: string | number) => (typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key);

/**
 * Every leaf that differs between two JSON values, in a stable order (keys sorted, array items by index). Objects and
 * arrays are walked into, so a changed stage reads `stages[1].epochs: 1 → 2`, not the whole stage.
 */
export function diffConfigs(oldValue: unknown, newValue: unknown, base = ''): FieldChange[] {
  if (isObject(oldValue) && isObject(newValue)) {
    const keys = [...new Set([...Object.keys(oldValue), ...Object.keys(newValue)])].sort();
    return keys.flatMap((k) => diffConfigs(oldValue[k], newValue[k], join(base, k)));
  }
  if (Array.isArray(oldValue) && Array.isArray(newValue)) {
    return Array.from({ length: Math.max(oldValue.length, newValue.length) }, (_, i) => diffConfigs(oldValue[i], newValue[i], join(base, i))).flat();
  }
  if (oldValue === newValue) return [];
  // Both undefined-or-equal scalars are handled above; a missing field and an explicit undefined are the same config.
  if (oldValue === undefined && newValue === undefined) return [];
  return [{ path: base || '(root)', old: oldValue, new: newValue }];
}

function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** `path: old → new`, one line per field. */
export function formatChanges(changes: FieldChange[]): string {
  return changes.map((c) => `  ${c.path}: ${show(c.old)} → ${show(c.new)}`).join('\n');
}
