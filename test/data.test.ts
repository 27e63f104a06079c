import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar';
import { Rng } from '../src/util/rng';
import {
  batchIndices,
  channelStats,
  clearDataCache,
  downloadFile,
  installDownload,
  loadSplits,
  locateDataset,
  makeSynthetic,
  normalizationTable,
  parseCifar10Batch,
  parseMat,
  readCifar10,
  readIdxImageSet,
  readMatFile,
  readSvhn,
  Split,
  writeImage,
  type CropFlip,
  type ImageSet,
} from '../src/data';
import {
  cifar10BatchBytes,
  idxBytes,
  matFileBytes,
  randomImageSet,
  svhnMatBytes,
  writeCifar10Dir,
  writeFashionMnistDir,
  writeSvhnMat,
} from './helpers/datasets';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-data-test-'));
let tmpCount = 0;
const tmpDir = () => {
  const d = path.join(tmpRoot, String(tmpCount++));
  fs.mkdirSync(d, { recursive: true });
  return d;
};
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function assertSameSet(actual: ImageSet, expected: ImageSet) {
  assert.equal(actual.count, expected.count);
  assert.deepEqual(actual.shape, expected.shape);
  assert.deepEqual(Array.from(actual.labels), Array.from(expected.labels));
  assert.ok(Buffer.from(actual.images).equals(Buffer.from(expected.images)), 'images differ');
}

describe('CIFAR-10 binary reader', () => {
  it('reads planar R,G,B records as HWC (hand-made record)', () => {
    const rec = new Uint8Array(3073);
    rec[0] = 3;
    rec.fill(1, 1, 1025);
    rec.fill(2, 1025, 2049);
    rec.fill(3, 2049, 3073);
    rec[1 + 1 * 32 + 2] = 200; // R of row 1, column 2
    rec[1 + 1024 + 31 * 32 + 0] = 201; // G of row 31, column 0
    const set = parseCifar10Batch(rec, 'hand.bin');
    assert.equal(set.count, 1);
    assert.equal(set.labels[0], 3);
    assert.deepEqual(Array.from(set.images.subarray(0, 3)), [1, 2, 3]);
    assert.equal(set.images[(1 * 32 + 2) * 3], 200);
    assert.equal(set.images[(31 * 32 + 0) * 3 + 1], 201);
  });

  it('round-trips files written in the real format, concatenating batches in order', () => {
    const dir = tmpDir();
    const a = randomImageSet(4, [32, 32, 3], 10, 1);
    const b = randomImageSet(3, [32, 32, 3], 10, 2);
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), cifar10BatchBytes(a));
    fs.writeFileSync(path.join(dir, 'data_batch_2.bin'), cifar10BatchBytes(b));
    const set = readCifar10([path.join(dir, 'data_batch_1.bin'), path.join(dir, 'data_batch_2.bin')]);
    assert.equal(set.count, 7);
    assertSameSet({ ...set, count: 4, images: set.images.subarray(0, 4 * 3072), labels: set.labels.subarray(0, 4) }, a);
    assert.deepEqual(Array.from(set.labels.subarray(4)), Array.from(b.labels));
  });

  it('names the file when it is truncated or holds a bad label', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'data_batch_1.bin');
    fs.writeFileSync(file, cifar10BatchBytes(randomImageSet(2, [32, 32, 3], 10, 3)).subarray(0, 3073 * 2 - 10));
    assert.throws(() => readCifar10([file]), (e: Error) => e.message.includes(file) && /6136 bytes is not a positive multiple of the 3073-byte/.test(e.message));
    const bad = cifar10BatchBytes(randomImageSet(2, [32, 32, 3], 10, 3));
    bad[3073] = 12;
    fs.writeFileSync(file, bad);
    assert.throws(() => readCifar10([file]), /data_batch_1\.bin: record 1 has label 12, expected 0\.\.9/);
  });
});

describe('MAT-file level-5 reader and SVHN', () => {
  for (const compress of [false, true]) {
    it(`reads variables of a ${compress ? 'compressed' : 'plain'} level-5 file, including small-element names and uint8-stored doubles`, () => {
      const buf = matFileBytes(
        [
          { name: 'X', mxClass: 'uint8', dims: [2, 3, 2], values: Array.from({ length: 12 }, (_, i) => i * 20) },
          { name: 'y', mxClass: 'double', dims: [3, 1], values: [1, 10, 7], storeAs: 'uint8' },
          { name: 'scores', mxClass: 'double', dims: [1, 2], values: [0.5, -2.25] },
        ],
        { compress },
      );
      const vars = parseMat(buf, 'mem.mat');
      assert.deepEqual([...vars.keys()], ['X', 'y', 'scores']);
      assert.equal(vars.get('X')!.mxClass, 'uint8');
      assert.deepEqual(vars.get('X')!.dims, [2, 3, 2]);
      assert.deepEqual(Array.from(vars.get('X')!.data), Array.from({ length: 12 }, (_, i) => i * 20));
      assert.equal(vars.get('y')!.mxClass, 'double');
      assert.deepEqual(Array.from(vars.get('y')!.data), [1, 10, 7]);
      assert.deepEqual(Array.from(vars.get('scores')!.data), [0.5, -2.25]);
    });

    it(`reads SVHN X (column-major 32×32×3×N) and y (10 → 0) from a ${compress ? 'compressed' : 'plain'} file`, () => {
      const dir = tmpDir();
      const X = new Uint8Array(32 * 32 * 3 * 2);
      X[1 + 32 * 2 + 1024 * 0 + 3072 * 0] = 77; // image 0, row 1, column 2, channel R
      X[31 + 32 * 0 + 1024 * 2 + 3072 * 1] = 99; // image 1, row 31, column 0, channel B
      const file = path.join(dir, 'train_32x32.mat');
      fs.writeFileSync(
        file,
        matFileBytes(
          [
            { name: 'X', mxClass: 'uint8', dims: [32, 32, 3, 2], values: X },
            { name: 'y', mxClass: 'double', dims: [2, 1], values: [10, 4] },
          ],
          { compress },
        ),
      );
      const set = readSvhn(file);
      assert.equal(set.count, 2);
      assert.deepEqual(set.shape, [32, 32, 3]);
      assert.deepEqual(Array.from(set.labels), [0, 4]);
      assert.equal(set.images[(1 * 32 + 2) * 3 + 0], 77);
      assert.equal(set.images[3072 + (31 * 32 + 0) * 3 + 2], 99);
      assert.equal(set.images.reduce((s, v) => s + v, 0), 77 + 99);

      const random = randomImageSet(5, [32, 32, 3], 10, 7);
      writeSvhnMat(file, random, { compress, labelsStoredAs: compress ? 'uint8' : 'double' });
      assertSameSet(readSvhn(file), random);
    });
  }

  it('names the file and the problem for corrupt, truncated or unexpected files', () => {
    const dir = tmpDir();
    const set = randomImageSet(3, [32, 32, 3], 10, 9);
    const file = path.join(dir, 'test_32x32.mat');
    const compressed = svhnMatBytes(set, { compress: true });
    fs.writeFileSync(file, compressed.subarray(0, compressed.length - 40));
    assert.throws(() => readSvhn(file), (e: Error) => e.message.startsWith(file) && /truncated|zlib/.test(e.message));

    const plain = svhnMatBytes(set, { compress: false });
    fs.writeFileSync(file, plain.subarray(0, 2000));
    assert.throws(() => readSvhn(file), /test_32x32\.mat: .*declares \d+ bytes but only \d+ remain \(file truncated\?\)/);

    const flipped = Buffer.from(compressed);
    flipped[128 + 8 + 20] ^= 0xff;
    fs.writeFileSync(file, flipped);
    assert.throws(() => readSvhn(file), /test_32x32\.mat: compressed element #1 is not a valid zlib stream/);

    fs.writeFileSync(file, matFileBytes([{ name: 'X', mxClass: 'uint8', dims: [32, 32, 3, 1], values: new Uint8Array(3072) }], { compress: true }));
    assert.throws(() => readSvhn(file), /test_32x32\.mat: missing variable 'y' \(found: X\)/);

    fs.writeFileSync(file, Buffer.alloc(300, 7));
    assert.throws(() => readMatFile(file), /test_32x32\.mat: not a level-5 MAT-file/);

    const v73 = Buffer.from(plain);
    v73.writeUInt16LE(0x0200, 124);
    fs.writeFileSync(file, v73);
    assert.throws(() => readMatFile(file), /v7\.3 HDF5 files are not supported/);

    fs.writeFileSync(file, matFileBytes([{ name: 'X', mxClass: 'uint8', dims: [28, 28, 1, 1], values: new Uint8Array(784) }, { name: 'y', mxClass: 'double', dims: [1, 1], values: [1] }], { compress: false }));
    assert.throws(() => readSvhn(file), /variable 'X' has dimensions 28×28×1×1, expected 32×32×3×N/);
  });
});

describe('IDX reader (Fashion-MNIST format)', () => {
  for (const gzip of [true, false]) {
    it(`round-trips ${gzip ? 'gzipped' : 'plain'} IDX image and label files`, () => {
      const dir = tmpDir();
      const train = randomImageSet(6, [28, 28, 1], 10, 11);
      const test = randomImageSet(3, [28, 28, 1], 10, 12);
      writeFashionMnistDir(dir, train, test, { gzip });
      const ext = gzip ? '.gz' : '';
      assertSameSet(readIdxImageSet(path.join(dir, `train-images-idx3-ubyte${ext}`), path.join(dir, `train-labels-idx1-ubyte${ext}`)), train);
      assertSameSet(readIdxImageSet(path.join(dir, `t10k-images-idx3-ubyte${ext}`), path.join(dir, `t10k-labels-idx1-ubyte${ext}`)), test);
    });
  }

  it('names the file for bad magic, bad gzip, wrong size and mismatched counts', () => {
    const dir = tmpDir();
    const set = randomImageSet(4, [28, 28, 1], 10, 13);
    writeFashionMnistDir(dir, set, set);
    const images = path.join(dir, 'train-images-idx3-ubyte.gz');
    const labels = path.join(dir, 'train-labels-idx1-ubyte.gz');
    assert.throws(() => readIdxImageSet(labels, images), (e: Error) => e.message.startsWith(labels) && /bad magic number 2049, expected 2051/.test(e.message));
    const gz = fs.readFileSync(images);
    fs.writeFileSync(images, gz.subarray(0, gz.length - 30));
    assert.throws(() => readIdxImageSet(images, labels), /train-images-idx3-ubyte\.gz: bad gzip data/);
    fs.writeFileSync(images, idxBytes(2051, [5, 28, 28], set.images, { gzip: true }));
    assert.throws(() => readIdxImageSet(images, labels), /train-images-idx3-ubyte\.gz: wrong size: dimensions 5×28×28 need 3936 bytes, file has 3152 \(truncated\)/);
    fs.writeFileSync(images, idxBytes(2051, [3, 28, 28], set.images.subarray(0, 3 * 784), { gzip: true }));
    assert.throws(() => readIdxImageSet(images, labels), /train-labels-idx1-ubyte\.gz: 4 labels but .* has 3 images/);
    fs.writeFileSync(images, Buffer.from('not gzip at all'));
    assert.throws(() => readIdxImageSet(images, labels), /bad gzip data: the file does not start with the gzip signature/);
  });

  const DEBIAN = '/usr/share/datasets/fashion-mnist';
  it('reads the real Fashion-MNIST of the Debian package', (t) => {
    if (!fs.existsSync(DEBIAN)) {
      t.skip(`${DEBIAN} absent: apt-get install dataset-fashion-mnist to run this test`);
      return;
    }
    const train = readIdxImageSet(path.join(DEBIAN, 'train-images-idx3-ubyte.gz'), path.join(DEBIAN, 'train-labels-idx1-ubyte.gz'));
    const test = readIdxImageSet(path.join(DEBIAN, 't10k-images-idx3-ubyte.gz'), path.join(DEBIAN, 't10k-labels-idx1-ubyte.gz'));
    assert.equal(train.count, 60000);
    assert.equal(test.count, 10000);
    assert.deepEqual(train.shape, [28, 28, 1]);
    const perClass = new Array(10).fill(0);
    for (const l of train.labels) perClass[l]++;
    assert.deepEqual(perClass, new Array(10).fill(6000));
    const stats = channelStats(train);
    // The commonly quoted Fashion-MNIST statistics: mean 0.2860, std 0.3530 (of 1).
    assert.ok(Math.abs(stats.mean[0] / 255 - 0.286) < 0.001, `mean ${stats.mean[0] / 255}`);
    assert.ok(Math.abs(stats.std[0] / 255 - 0.353) < 0.001, `std ${stats.std[0] / 255}`);
  });

  it('locates the Debian Fashion-MNIST as a system location after the data directory', async (t) => {
    if (!fs.existsSync(DEBIAN)) {
      t.skip(`${DEBIAN} absent: apt-get install dataset-fashion-mnist to run this test`);
      return;
    }
    const found = await locateDataset('fashion-mnist', { dataDir: tmpDir() });
    assert.equal(found.source, 'system');
    assert.equal(found.dir, DEBIAN);
    assert.deepEqual(found.files.train, [path.join(DEBIAN, 'train-images-idx3-ubyte.gz'), path.join(DEBIAN, 'train-labels-idx1-ubyte.gz')]);
  });
});

describe('locator', () => {
  it('finds files in <dataDir>/<dataset>, in an extracted archive folder, and gunzipped Fashion-MNIST names', async () => {
    const dataDir = tmpDir();
    const small = randomImageSet(5, [32, 32, 3], 10, 20);
    writeCifar10Dir(path.join(dataDir, 'cifar10', 'cifar-10-batches-bin'), small, small);
    const cifar = await locateDataset('cifar10', { dataDir });
    assert.equal(cifar.dir, path.join(dataDir, 'cifar10', 'cifar-10-batches-bin'));
    assert.equal(cifar.source, 'data-dir');
    assert.equal(cifar.files.train!.length, 5);
    assert.deepEqual(cifar.files.test, [path.join(dataDir, 'cifar10', 'cifar-10-batches-bin', 'test_batch.bin')]);

    const fm = randomImageSet(2, [28, 28, 1], 10, 21);
    writeFashionMnistDir(path.join(dataDir, 'fashion-mnist'), fm, fm, { gzip: false });
    const fashion = await locateDataset('fashion-mnist', { dataDir });
    assert.equal(fashion.dir, path.join(dataDir, 'fashion-mnist'));
    assert.ok(fashion.files.train![0].endsWith('train-images-idx3-ubyte'));
  });

  it('without download, fails naming the missing files and where to put them', async () => {
    const dataDir = tmpDir();
    await assert.rejects(locateDataset('cifar10', { dataDir }), (e: Error) => {
      assert.match(e.message, /dataset 'cifar10' not found \(downloading not allowed\)/);
      // A stable type (retried as DataUnavailable, src/activities/errors.ts) whose first line names the dataset, host and folder.
      assert.equal(e.name, 'DatasetUnavailableError');
      assert.equal(e.message.split('\n')[0], `dataset 'cifar10' not found (downloading not allowed) on host ${os.hostname()}: its files belong in ${path.join(dataDir, 'cifar10')}.`);
      assert.match(e.message, /data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin, test_batch\.bin/);
      assert.ok(e.message.includes(`into ${path.join(dataDir, 'cifar10')}`), e.message);
      assert.match(e.message, /cifar-10-binary\.tar\.gz/);
      return true;
    });
    await assert.rejects(locateDataset('svhn', { dataDir, parts: ['train', 'extra'] }), /Put these files: train_32x32\.mat, extra_32x32\.mat/);
    await assert.rejects(locateDataset('imagenet', { dataDir }), /unknown dataset 'imagenet', expected one of: cifar10, svhn, fashion-mnist, synthetic/);
    assert.equal((await locateDataset('synthetic')).source, 'generated');
  });

  describe('downloads (from a server on the loopback)', () => {
    let server: http.Server;
    let base = '';
    const served = new Map<string, Buffer>();
    before(async () => {
      server = http.createServer((req, res) => {
        const body = served.get(path.basename(req.url ?? ''));
        if (!body) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-length': body.length }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    });
    after(() => server.close());

    it('verifies the md5, writes the file whole or not at all', async () => {
      const dir = tmpDir();
      const body = Buffer.from('published bytes '.repeat(1000));
      served.set('file.bin', body);
      const md5 = createHash('md5').update(body).digest('hex');
      const target = path.join(dir, 'file.bin');
      await assert.rejects(downloadFile(base + 'file.bin', target, { md5: '0'.repeat(32) }), /file\.bin: checksum mismatch .*expected 0{32}/);
      assert.deepEqual(fs.readdirSync(dir), []);
      await assert.rejects(downloadFile(base + 'absent.bin', target, { md5 }), /HTTP 404/);
      await downloadFile(base + 'file.bin', target, { md5 });
      assert.ok(fs.readFileSync(target).equals(body));
      assert.deepEqual(fs.readdirSync(dir), ['file.bin']);
    });

    it('downloads and extracts a CIFAR-10-style tarball that the locator then finds', async () => {
      const dataDir = tmpDir();
      const src = tmpDir();
      const set = randomImageSet(5, [32, 32, 3], 10, 30);
      writeCifar10Dir(path.join(src, 'cifar-10-batches-bin'), set, set);
      const tarball = path.join(src, 'cifar-10-binary.tar.gz');
      await tar.c({ gzip: true, file: tarball, cwd: src }, ['cifar-10-batches-bin']);
      const body = fs.readFileSync(tarball);
      served.set('cifar-10-binary.tar.gz', body);
      const spec = {
        url: base + 'cifar-10-binary.tar.gz',
        file: 'cifar-10-binary.tar.gz',
        md5: createHash('md5').update(body).digest('hex'),
        provides: [],
        extract: { dir: 'cifar-10-batches-bin', strip: 1 },
      };
      await installDownload(spec, path.join(dataDir, 'cifar10'), { progress: false });
      const found = await locateDataset('cifar10', { dataDir });
      assert.equal(found.dir, path.join(dataDir, 'cifar10', 'cifar-10-batches-bin'));
      assert.equal(readCifar10(found.files.train!).count, 5);
      assert.ok(!fs.existsSync(path.join(dataDir, 'cifar10', 'cifar-10-binary.tar.gz')), 'archive removed after extraction');
    });

    it('a download that fails the published checksum ends in the where-to-put-files error', async () => {
      const dataDir = tmpDir();
      served.set('train_32x32.mat', Buffer.from('not the published file'));
      await assert.rejects(locateDataset('svhn', { dataDir, download: true, mirror: base, progress: false, parts: ['train'] }), (e: Error) => {
        assert.match(e.message, /train_32x32\.mat: checksum mismatch/);
        assert.match(e.message, /dataset 'svhn' not found \(download failed\)/);
        return true;
      });
      assert.deepEqual(fs.readdirSync(path.join(dataDir, 'svhn')), [], 'no partial file left behind');
    });
  });
});

describe('normalisation', () => {
  it('channelStats equals a direct computation over the chosen rows; a constant channel gets std 1', () => {
    const set = randomImageSet(9, [4, 5, 3], 3, 40);
    const rows = Int32Array.from([0, 2, 3, 7]);
    const stats = channelStats(set, rows);
    for (let ch = 0; ch < 3; ch++) {
      const vals: number[] = [];
      for (const r of rows) for (let p = 0; p < 20; p++) vals.push(set.images[r * 60 + p * 3 + ch]);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
      assert.ok(Math.abs(stats.mean[ch] - mean) < 1e-9);
      assert.ok(Math.abs(stats.std[ch] - std) < 1e-9);
    }
    const flat: ImageSet = { ...set, images: new Uint8Array(set.images.length).fill(9) };
    assert.deepEqual(channelStats(flat), { mean: [9, 9, 9], std: [1, 1, 1] });
  });
});

describe('augmentation and batching', () => {
  // A 2×3 single-channel image with the identity normalisation, so outputs are the raw values.
  const tiny = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  const identity = normalizationTable({ mean: [0], std: [1] });
  const render = (crop: CropFlip | null) => {
    const out = new Float32Array(6).fill(-1);
    writeImage(tiny, 0, [2, 3, 1], identity, out, 0, crop);
    return Array.from(out);
  };

  it('crops and flips do what they claim on a hand-made image', () => {
    assert.deepEqual(render(null), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(render({ dy: 0, dx: 0, flip: false }), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(render({ dy: 0, dx: 0, flip: true }), [3, 2, 1, 6, 5, 4]);
    assert.deepEqual(render({ dy: 1, dx: 0, flip: false }), [4, 5, 6, 0, 0, 0]);
    assert.deepEqual(render({ dy: -1, dx: 0, flip: false }), [0, 0, 0, 1, 2, 3]);
    assert.deepEqual(render({ dy: 0, dx: -1, flip: false }), [0, 1, 2, 0, 4, 5]);
    assert.deepEqual(render({ dy: 0, dx: 1, flip: true }), [0, 3, 2, 0, 6, 5]);
    assert.deepEqual(render({ dy: 4, dx: 4, flip: false }), [0, 0, 0, 0, 0, 0]);
    // Padding is zero after normalisation, i.e. the channel mean in raw units.
    const out = new Float32Array(6);
    writeImage(tiny, 0, [2, 3, 1], normalizationTable({ mean: [3], std: [2] }), out, 0, { dy: 1, dx: 0, flip: false });
    assert.deepEqual(Array.from(out), [0.5, 1, 1.5, 0, 0, 0]);
  });

  const set = randomImageSet(20, [6, 6, 3], 4, 50);
  const norm = channelStats(set);
  const split = new Split({ name: 'train', sources: [set], rows: Int32Array.from({ length: 20 }, (_, i) => 19 - i), normalization: norm });

  it('batches are NHWC normalised images with their labels', () => {
    const batch = split.makeBatch([0, 5, 19]);
    assert.deepEqual(batch.shape, [3, 6, 6, 3]);
    assert.equal(batch.x.length, 3 * 108);
    assert.deepEqual(Array.from(batch.y), [set.labels[19], set.labels[14], set.labels[0]]);
    for (let p = 0; p < 108; p++) {
      const ch = p % 3;
      assert.ok(Math.abs(batch.x[108 + p] - (set.images[14 * 108 + p] - norm.mean[ch]) / norm.std[ch]) < 1e-5);
    }
    assert.throws(() => split.makeBatch([20]), /index 20 outside 0\.\.19/);
    assert.throws(() => split.makeBatch([0], { augment: true }), /augment needs an rng/);
  });

  it('augmented batches are deterministic per seed, fresh per draw, and each image is one of the 9×9×2 crops/flips', () => {
    const idx = Int32Array.from({ length: 20 }, (_, i) => i);
    const a = split.makeBatch(idx, { augment: true, rng: Rng.fromSeed(1) });
    const b = split.makeBatch(idx, { augment: true, rng: Rng.fromSeed(1) });
    const c = split.makeBatch(idx, { augment: true, rng: Rng.fromSeed(2) });
    assert.deepEqual(a.x, b.x);
    assert.notDeepEqual(a.x, c.x);
    const lut = normalizationTable(norm);
    let flips = 0;
    for (let n = 0; n < 20; n++) {
      const got = a.x.subarray(n * 108, (n + 1) * 108);
      let match: CropFlip | null = null;
      for (let dy = -4; dy <= 4 && !match; dy++) {
        for (let dx = -4; dx <= 4 && !match; dx++) {
          for (const flip of [false, true]) {
            const want = new Float32Array(108);
            writeImage(split.rawImage(n), 0, [6, 6, 3], lut, want, 0, { dy, dx, flip });
            if (want.every((v, i) => v === got[i])) {
              match = { dy, dx, flip };
              break;
            }
          }
        }
      }
      assert.ok(match, `image ${n} is not a crop/flip of its source`);
      if (match.flip) flips++;
    }
    assert.ok(flips > 0 && flips < 20, `flips ${flips}/20`);
  });

  it('reuses caller buffers, and epoch orders are seeded permutations cut into full batches', () => {
    const out = { x: new Float32Array(2 * 108), y: new Int32Array(2) };
    const batch = split.makeBatch([3, 4], { out });
    assert.equal(batch.x, out.x);
    const order = split.epochOrder(Rng.fromSeed(9));
    assert.deepEqual(order, split.epochOrder(Rng.fromSeed(9)));
    assert.deepEqual(Array.from(order).sort((p, q) => p - q), Array.from({ length: 20 }, (_, i) => i));
    const batches = [...batchIndices(order, 6)];
    assert.deepEqual(batches.map((b) => b.length), [6, 6, 6]);
    assert.deepEqual([...batchIndices(order, 6, { dropLast: false })].map((b) => b.length), [6, 6, 6, 2]);
  });
});

describe('synthetic dataset', () => {
  it('is seeded and learnable (nearest class mean classifies held-out images well)', () => {
    const opts = { shape: [8, 8, 3] as const, classes: 4, seed: 3 };
    const train = makeSynthetic({ ...opts, count: 200, stream: 'train' });
    assert.deepEqual(train, makeSynthetic({ ...opts, count: 200, stream: 'train' }));
    const test = makeSynthetic({ ...opts, count: 100, stream: 'test' });
    assert.notDeepEqual(test.images, train.images.subarray(0, test.images.length));
    const d = 8 * 8 * 3;
    const means = Array.from({ length: 4 }, () => new Float64Array(d));
    const counts = new Array(4).fill(0);
    for (let n = 0; n < train.count; n++) {
      counts[train.labels[n]]++;
      for (let p = 0; p < d; p++) means[train.labels[n]][p] += train.images[n * d + p];
    }
    means.forEach((m, k) => m.forEach((_, p) => (m[p] /= counts[k])));
    let correct = 0;
    for (let n = 0; n < test.count; n++) {
      const dist = means.map((m) => m.reduce((s, v, p) => s + (v - test.images[n * d + p]) ** 2, 0));
      if (dist.indexOf(Math.min(...dist)) === test.labels[n]) correct++;
    }
    assert.ok(correct >= 80, `nearest-mean accuracy ${correct}/100`);
  });
});

describe('loadSplits (paper protocol)', () => {
  it('search mode holds out a seeded, disjoint validation set; same seed same split', async () => {
    const synthetic = { train: 300, test: 50, shape: [8, 8, 3] as [number, number, number], classes: 4 };
    const a = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 5, validationSize: 40, synthetic });
    const b = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 5, validationSize: 40, synthetic });
    const c = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 6, validationSize: 40, synthetic });
    assert.equal(a.train.count, 260);
    assert.equal(a.eval.count, 40);
    assert.equal(a.eval.name, 'val');
    assert.deepEqual(a.eval.rows, b.eval.rows);
    assert.notDeepEqual(a.eval.rows, c.eval.rows);
    const all = new Set([...a.train.rows, ...a.eval.rows]);
    assert.equal(all.size, 300, 'train and val are disjoint and cover the training set');
    assert.deepEqual(a.normalization, channelStats(makeSynthetic({ ...synthetic, count: 300, seed: 0, stream: 'train' }), a.train.rows));

    const final = await loadSplits({ dataset: 'synthetic', mode: 'final', seed: 5, synthetic, limit: { train: 100, test: 20 } });
    assert.equal(final.train.count, 100);
    assert.equal(final.eval.count, 20);
    assert.equal(final.eval.name, 'test');
    assert.deepEqual(final.train.rows, (await loadSplits({ dataset: 'synthetic', mode: 'final', seed: 5, synthetic, limit: { train: 100, test: 20 } })).train.rows);
    await assert.rejects(loadSplits({ dataset: 'synthetic', mode: 'search', seed: 1, validationSize: 300, synthetic }), /validationSize 300 must be smaller than the 300-image training set/);
    await assert.rejects(loadSplits({ dataset: 'synthetic', mode: 'search', seed: 1.5 } as never), /seed/);
  });

  it('CIFAR-10 from real-format files: 5 batches, per-channel stats of the remaining training set, C10+', async () => {
    clearDataCache();
    const dataDir = tmpDir();
    const train = randomImageSet(50, [32, 32, 3], 10, 60);
    const test = randomImageSet(10, [32, 32, 3], 10, 61);
    writeCifar10Dir(path.join(dataDir, 'cifar10'), train, test);
    const s = await loadSplits({ dataset: 'cifar10', dataDir, mode: 'search', seed: 1, validationSize: 10 });
    assert.equal(s.train.count, 40);
    assert.equal(s.eval.count, 10);
    assert.equal(s.standardAugment, true);
    assert.deepEqual(s.normalization, channelStats(train, s.train.rows));
    const f = await loadSplits({ dataset: 'cifar10', dataDir, mode: 'final', seed: 1 });
    assert.equal(f.train.count, 50);
    assert.equal(f.eval.count, 10);
    assert.deepEqual(f.eval.rawImage(3), test.images.subarray(3 * 3072, 4 * 3072));
  });

  it('SVHN final mode trains on train + extra, divided by 255; search mode reads train only', async () => {
    clearDataCache();
    const dataDir = tmpDir();
    const train = randomImageSet(12, [32, 32, 3], 10, 70);
    const extra = randomImageSet(8, [32, 32, 3], 10, 71);
    const test = randomImageSet(5, [32, 32, 3], 10, 72);
    writeSvhnMat(path.join(dataDir, 'svhn', 'train_32x32.mat'), train, { compress: true });
    writeSvhnMat(path.join(dataDir, 'svhn', 'extra_32x32.mat'), extra, { compress: true });
    writeSvhnMat(path.join(dataDir, 'svhn', 'test_32x32.mat'), test, { compress: false });
    const f = await loadSplits({ dataset: 'svhn', dataDir, mode: 'final', seed: 2 });
    assert.equal(f.train.count, 20);
    assert.equal(f.eval.count, 5);
    assert.deepEqual(f.normalization, { mean: [0, 0, 0], std: [255, 255, 255] });
    assert.equal(f.standardAugment, false);
    assert.deepEqual(f.train.rawImage(15), extra.images.subarray(3 * 3072, 4 * 3072));
    assert.equal(f.train.label(15), extra.labels[3]);
    const batch = f.train.makeBatch([15]);
    assert.ok(Math.abs(batch.x[100] - extra.images[3 * 3072 + 100] / 255) < 1e-6);
    fs.rmSync(path.join(dataDir, 'svhn', 'test_32x32.mat'));
    const s = await loadSplits({ dataset: 'svhn', dataDir, mode: 'search', seed: 2, validationSize: 4 });
    assert.equal(s.train.count, 8);
  });

  it('Fashion-MNIST from gzipped IDX files: 28×28×1, normalised by its training set', async () => {
    clearDataCache();
    const dataDir = tmpDir();
    const train = randomImageSet(30, [28, 28, 1], 10, 80);
    writeFashionMnistDir(path.join(dataDir, 'fashion-mnist'), train, randomImageSet(5, [28, 28, 1], 10, 81));
    const f = await loadSplits({ dataset: 'fashion-mnist', dataDir, mode: 'final', seed: 0 });
    assert.deepEqual(f.train.shape, [28, 28, 1]);
    assert.equal(f.location.dir, path.join(dataDir, 'fashion-mnist'));
    assert.deepEqual(f.normalization, channelStats(train));
  });
});

describe('eas data CLI', () => {
  it('fetch prints where the data is', () => {
    const dataDir = tmpDir();
    const set = randomImageSet(5, [32, 32, 3], 10, 90);
    writeCifar10Dir(path.join(dataDir, 'cifar10'), set, set);
    const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'data', 'fetch', 'cifar10', '--dir', dataDir], { encoding: 'utf8' });
    assert.match(out, new RegExp(`cifar10: ${path.join(dataDir, 'cifar10').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(data-dir\\)`));
    assert.match(out, /test: .*test_batch\.bin/);
  });
});
