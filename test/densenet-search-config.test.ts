import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ConfigError, type SearchConfigInput, validateSearchConfig } from '../src/config/search-config';
import { DEFAULT_SEARCH_SPACE } from '../src/space';
import { checkSearchConfig } from '../src/config/semantic';
import { loadSearchConfig } from '../src/config/load';

const base = (over: Partial<SearchConfigInput>): SearchConfigInput => ({
  name: 'dn',
  dataset: { name: 'fashion-mnist' },
  startNet: { notation: 'C(16,3), D(12*2), T(20), D(12*2), SM(10)', epochs: 1 },
  searchSpace: { kind: 'densenet', growthRates: [12, 16, 20, 24] },
  stages: [{ networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1 }],
  final: { topK: 1, epochs: 1 },
  ...over,
});

function issues(raw: SearchConfigInput): { path: string; message: string }[] {
  try {
    checkSearchConfig(validateSearchConfig(raw));
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

test('searchSpace defaults to plain, so existing configs are unchanged; the shipped DenseNet configs validate', () => {
  const plain = loadSearchConfig(path.join(__dirname, '..', 'configs', 'quickstart.yaml'));
  assert.deepEqual(plain.searchSpace, DEFAULT_SEARCH_SPACE);
  for (const f of ['quickstart-densenet.yaml', 'cifar10-densenet.yaml']) {
    const c = loadSearchConfig(path.join(__dirname, '..', 'configs', f));
    checkSearchConfig(c);
    assert.equal(c.searchSpace.kind, 'densenet');
  }
  const paper = loadSearchConfig(path.join(__dirname, '..', 'configs', 'cifar10-densenet.yaml'));
  assert.deepEqual(paper.searchSpace, { kind: 'densenet', growthRates: [40, 44, 48, 52, 56, 60, 64], bottleneckFactor: 4, maxLayersPerBlock: 64 });
  assert.deepEqual(issues(base({})), []);
  // The authors' 10 wider steps per network where a DenseNet search's stage does not say; the plain space keeps 4.
  assert.deepEqual(validateSearchConfig(base({ stages: [{ networks: 4 }, { networks: 2, widerSteps: 1 }] })).stages.map((st) => st.widerSteps), [10, 1]);
  assert.deepEqual(validateSearchConfig(base({ stages: undefined })).stages.map((st) => st.widerSteps), [10, 10]);
  assert.deepEqual(validateSearchConfig(base({ searchSpace: undefined, startNet: { notation: 'C(16,3,1), SM(10)', epochs: 1 }, stages: [{ networks: 4 }] })).stages.map((st) => st.widerSteps), [4]);
});

test('a DenseNet search config with bad fields is refused, naming each field', () => {
  assert.match(JSON.stringify(issues(base({ startNet: { notation: 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)', epochs: 1 } }))), /startNet\.notation.*not a DenseNet/);
  assert.match(JSON.stringify(issues(base({ startNet: { notation: 'C(16,3), D(12*2), SM(4)', epochs: 1 } }))), /startNet\.notation.*SM\(4\).*10 classes/);
  assert.match(JSON.stringify(issues(base({ searchSpace: { kind: 'densenet', growthRates: [12, 8] } }))), /searchSpace\.growthRates\.1.*strictly increasing/);
  assert.match(JSON.stringify(issues(base({ startNet: { notation: 'C(16,3), D(24*2), T(20), D(24*2), SM(10)', epochs: 1 } }))), /searchSpace\.growthRates.*no wider step can be taken/);
  assert.match(JSON.stringify(issues(base({ searchSpace: { kind: 'densenet', growthRates: [12, 16, 20, 24], maxLayersPerBlock: 1 } }))), /searchSpace\.maxLayersPerBlock.*block 1 already has 2 layers/);
  // A plain `space` beside a DenseNet searchSpace means nothing: refused, naming it; the legacy plain form still loads.
  assert.throws(() => validateSearchConfig({ ...base({}), space: { convFilters: [8, 16] } }), (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === 'space'));
  const legacy = validateSearchConfig({ ...base({ searchSpace: undefined, startNet: { notation: 'C(16,3,1), FC(64), SM(10)', epochs: 1 } }), space: { convFilters: [16, 32] } });
  assert.deepEqual(legacy.searchSpace, { ...DEFAULT_SEARCH_SPACE, convFilters: [16, 32] });
  assert.throws(() => validateSearchConfig(base({ searchSpace: { kind: 'resnet' } as never })), (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path.startsWith('searchSpace')));
});
