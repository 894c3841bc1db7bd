// zstd ingest: real vmagent 1.93.7 bodies, frame headers, limits before allocation, and
// bounded fuzzing; every available implementation must give the same answer.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { SpillwayError, type ErrorCode } from '../../src/errors.js';
import { MAX_ZSTD_FRAMES, zstdAvailable, zstdDecompress, zstdFrames, zstdImplementation } from '../../src/protocol/zstd.js';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { sharedDir } from '../helpers/shared-dir.js';
import { repoRoot } from '../helpers/prw-reference.js';
import { nativeCompress, rawFrame, rleFrame, skippableFrame } from './zstd-frames.js';

const LONG = process.env.SPILLWAY_LONG === '1';
const runs = (n: number): number => (LONG ? n * 100 : n);
const CAPTURES = path.join(sharedDir, 'captures', 'vmagent-1.93.7');
const MAX = 1 << 20;
const compress = nativeCompress();

function codeOf(fn: () => unknown): ErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof SpillwayError) return err.code;
    throw err;
  }
}

t.test('an implementation is available; zstd-napi builds on this machine', async (t) => {
  t.ok(zstdImplementation, `active: ${zstdImplementation}`);
  t.ok(zstdAvailable.includes('js'), 'the pure-JS fallback always loads');
  // CI installs with npm ci from the lock file, which builds the optional native addon.
  t.ok(zstdAvailable.includes('native') || zstdAvailable.includes('node'), `native codec present (have ${zstdAvailable.join(', ')})`);
});

interface Expected {
  series: number;
  samples: number;
  timeseries: { labels: [string, string][]; samples: [number | null, string][] }[];
}

t.test('vmagent 1.93.7 zstd bodies decompress to their .pb and decode to expected.json', async (t) => {
  const expected = JSON.parse(fs.readFileSync(path.join(sharedDir, 'captures', 'expected.json'), 'utf8')) as Record<string, Record<string, Expected>>;
  const files = Object.entries(expected['vmagent-1.93.7']!);
  t.ok(files.length >= 4);
  const decoder = new PrwDecoder({ maxLabelsPerTimeseries: 1000, maxLabelNameLen: 1 << 20, maxLabelValueLen: 1 << 20 });
  for (const [file, exp] of files) {
    const meta = JSON.parse(fs.readFileSync(path.join(CAPTURES, file.replace(/\.bin$/, '.json')), 'utf8')) as { headers: Record<string, string> };
    t.equal(meta.headers['Content-Encoding'], 'zstd');
    const body = fs.readFileSync(path.join(CAPTURES, file));
    const pb = fs.readFileSync(path.join(CAPTURES, file.replace(/\.bin$/, '.pb')));
    const info = zstdFrames(body);
    t.equal(info.declared, pb.length, `${file}: declared content size`);
    for (const impl of zstdAvailable) {
      t.ok(zstdDecompress(body, MAX, impl).equals(pb), `${file} (${impl})`);
    }
    const view = decoder.decode(zstdDecompress(body, MAX));
    const got = [];
    for (let i = 0; i < view.seriesCount; i++) {
      const s = seriesToObject(view, i);
      got.push({ labels: s.labels, samples: s.samples.map(([v, ts]) => [v === 0 || !Number.isFinite(v) ? null : v, String(ts)]) });
    }
    t.equal(view.seriesCount, exp.series);
    t.same(got, exp.timeseries, `${file}: labels and samples`);
  }
});

t.test('frame headers: every content-size width, single segment, windows, checksums', async (t) => {
  const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
  const cases: [string, Parameters<typeof rawFrame>[1], number, number][] = [
    // name, options, expected contentSize, expected windowSize
    ['no size, window 2^17', { fcsBytes: 0 }, -1, 1 << 17],
    ['2-byte size', { fcsBytes: 2 }, 3000, 1 << 17],
    ['4-byte size, window 2^20', { fcsBytes: 4, windowLog: 20 }, 3000, 1 << 20],
    ['8-byte size', { fcsBytes: 8 }, 3000, 1 << 17],
    ['single segment, 2-byte size', { fcsBytes: 2, singleSegment: true }, 3000, 3000],
    ['checksum', { fcsBytes: 4, checksum: true }, 3000, 1 << 17],
    ['small blocks', { fcsBytes: 0, blockSize: 100 }, -1, 1 << 17],
  ];
  for (const [name, o, size, window] of cases) {
    const frame = rawFrame(data, o);
    const f = zstdFrames(frame).frames[0]!;
    t.equal(f.contentSize, size, `${name}: content size`);
    t.equal(f.windowSize, window, `${name}: window`);
    t.equal(f.end, frame.length, `${name}: frame end`);
    for (const impl of zstdAvailable) t.ok(zstdDecompress(frame, MAX, impl).equals(data), `${name} (${impl})`);
  }
  const tiny = rawFrame(Buffer.from('hi'), { fcsBytes: 1, singleSegment: true });
  t.equal(zstdFrames(tiny).frames[0]!.contentSize, 2, '1-byte size');
  for (const impl of zstdAvailable) t.equal(zstdDecompress(tiny, MAX, impl).toString(), 'hi', `1-byte size (${impl})`);
  for (const impl of zstdAvailable) t.equal(zstdDecompress(rawFrame(Buffer.alloc(0)), MAX, impl).length, 0, `empty frame (${impl})`);
});

t.test('several frames and skippable frames concatenate', async (t) => {
  const a = Buffer.from('first frame; ');
  const b = Buffer.alloc(5000, 0x41);
  const body = Buffer.concat([skippableFrame(Buffer.from('meta')), rawFrame(a), skippableFrame(Buffer.alloc(0), 15), rleFrame(0x41, 5000, { fcsBytes: 0 })]);
  const info = zstdFrames(body);
  t.equal(info.frames.length, 4);
  t.equal(info.declared, -1, 'one frame without a size makes the total unknown');
  for (const impl of zstdAvailable) t.ok(zstdDecompress(body, MAX, impl).equals(Buffer.concat([a, b])), impl);
  if (compress) {
    const c = Buffer.concat([compress(a, 3), compress(b, 1)]);
    for (const impl of zstdAvailable) t.ok(zstdDecompress(c, MAX, impl).equals(Buffer.concat([a, b])), `compressed frames (${impl})`);
  }
});

t.test('limits are checked before anything is allocated or decoded', async (t) => {
  const limit = 64 * 1024;
  for (const impl of zstdAvailable) {
    // Declared size over the limit: refused from the header.
    const declared = rleFrame(0x01, 256 * 1024);
    const e1 = codeOf(() => zstdDecompress(declared, limit, impl));
    t.equal(e1, 'SPW_ERR_DECOMPRESSED_TOO_LARGE', `declared size (${impl})`);
    // No declared size, 32 RLE blocks of 128 KiB from 140 bytes: decoding stops at the cap.
    const bomb = rleFrame(0x02, 4 << 20, { fcsBytes: 0, windowLog: 17 });
    t.ok(bomb.length < 200);
    t.equal(codeOf(() => zstdDecompress(bomb, 4 * limit, impl)), 'SPW_ERR_DECOMPRESSED_TOO_LARGE', `bomb without a size (${impl})`);
    t.equal(zstdDecompress(bomb, 8 << 20, impl).length, 4 << 20, `the same bomb under a larger limit (${impl})`);
    // A window larger than the limit, without a declared size.
    const wide = rawFrame(Buffer.from('x'), { fcsBytes: 0, windowLog: 20 });
    t.equal(codeOf(() => zstdDecompress(wide, limit, impl)), 'SPW_ERR_DECOMPRESSED_TOO_LARGE', `window (${impl})`);
    // A size the blocks cannot produce: corrupt, not large.
    const liar = rawFrame(Buffer.from('abc'), { fcsBytes: 4, declared: 1 << 30 });
    t.equal(codeOf(() => zstdDecompress(liar, 1 << 31, impl)), 'SPW_ERR_BAD_ZSTD', `declared beyond its blocks (${impl})`);
  }
  // The 413 message says what was measured against what.
  t.throws(() => zstdDecompress(rleFrame(0x01, 256 * 1024), limit), { code: 'SPW_ERR_DECOMPRESSED_TOO_LARGE', message: /declare 262144 .*limit is 65536/ });
});

t.test('unsupported frames: dictionaries get 415; too many frames 400', async (t) => {
  const dict = rawFrame(Buffer.from('x'), { dictId: 77 });
  t.throws(() => zstdDecompress(dict, MAX), { code: 'SPW_ERR_UNSUPPORTED_ENCODING', message: /dictionary 77/ });
  const many = Buffer.concat(Array.from({ length: MAX_ZSTD_FRAMES + 1 }, () => skippableFrame(Buffer.alloc(0))));
  t.throws(() => zstdDecompress(many, MAX), { code: 'SPW_ERR_BAD_ZSTD', message: /more than 4096/ });
});

t.test('the pure-JS decoder refuses a frame too costly for it instead of stalling', { skip: !zstdAvailable.includes('js') }, async (t) => {
  // 100 one-byte blocks with a 16 MiB window and no declared size: 1.6 GB of window slides in fzstd.
  const frame = rawFrame(Buffer.alloc(100, 7), { fcsBytes: 0, windowLog: 24, blockSize: 1 });
  t.throws(() => zstdDecompress(frame, 64 << 20, 'js'), { code: 'SPW_ERR_UNSUPPORTED_ENCODING' });
  for (const impl of zstdAvailable.filter((i) => i !== 'js')) t.equal(zstdDecompress(frame, 64 << 20, impl).length, 100, impl);
});

t.test('malformed headers name what is wrong and where', async (t) => {
  const good = rawFrame(Buffer.from('hello'), { fcsBytes: 4 });
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /empty zstd body/],
    ['bad magic', Buffer.from('not zstd at all'), /not a zstd frame \(magic number 0x20746f6e\) at offset 0/],
    ['reserved bit', Buffer.from([...good.subarray(0, 4), good[4]! | 8, ...good.subarray(5)]), /reserved bit .* at offset 4/],
    ['truncated block', good.subarray(0, good.length - 2), /raw block of 5 bytes runs past the body/],
    ['trailing garbage', Buffer.concat([good, Buffer.from([1, 2])]), /truncated frame magic number at offset 18/],
    ['reserved block type', Buffer.from([...good.subarray(0, 10), 0x07, 0, 0]), /reserved block type at offset 10/],
    ['missing checksum', rawFrame(Buffer.from('x'), { checksum: true }).subarray(0, -1), /truncated content checksum/],
  ];
  for (const [name, body, msg] of cases) {
    for (const impl of zstdAvailable) t.throws(() => zstdDecompress(body, MAX, impl), { code: 'SPW_ERR_BAD_ZSTD', message: msg }, `${name} (${impl})`);
  }
  if (zstdAvailable.includes('native')) {
    // Libzstd verifies the content checksum.
    const bad = rawFrame(Buffer.from('payload'), { checksum: true });
    bad[bad.length - 1]! ^= 0xff;
    t.throws(() => zstdDecompress(bad, MAX, 'native'), { code: 'SPW_ERR_BAD_ZSTD' });
  }
});

const OUTCOMES: (ErrorCode | 'ok')[] = ['ok', 'SPW_ERR_BAD_ZSTD', 'SPW_ERR_DECOMPRESSED_TOO_LARGE', 'SPW_ERR_UNSUPPORTED_ENCODING'];

t.test('fuzz: truncations and byte flips of real bodies end in a typed error, never a crash', async (t) => {
  const body = fs.readFileSync(path.join(CAPTURES, 'body-1.bin'));
  for (const impl of zstdAvailable) {
    let typed = 0;
    for (let n = 0; n < body.length; n++) {
      const c = codeOf(() => zstdDecompress(body.subarray(0, n), MAX, impl));
      if (c === 'SPW_ERR_BAD_ZSTD') typed++;
    }
    t.equal(typed, body.length, `every truncation is SPW_ERR_BAD_ZSTD (${impl})`);
  }
  const started = Date.now();
  fc.assert(
    fc.property(fc.array(fc.record({ at: fc.nat(body.length - 1), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }), (flips) => {
      const b = Buffer.from(body);
      for (const { at, xor } of flips) b[at]! ^= xor;
      const outcomes = zstdAvailable.map((impl) => codeOf(() => zstdDecompress(b, MAX, impl)));
      for (const o of outcomes) if (!OUTCOMES.includes(o)) return false;
      return true;
    }),
    { numRuns: runs(400) },
  );
  t.ok(Date.now() - started < (LONG ? 100 : 1) * 8000, 'bounded time');
});

t.test('fuzz: random bytes behind a zstd magic number', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (tail, frame) => {
      const b = Buffer.concat([Buffer.from(frame ? [0x28, 0xb5, 0x2f, 0xfd] : [0x5a, 0x2a, 0x4d, 0x18]), tail]);
      for (const impl of zstdAvailable) if (!OUTCOMES.includes(codeOf(() => zstdDecompress(b, MAX, impl)))) return false;
      return true;
    }),
    { numRuns: runs(2000) },
  );
  t.pass('typed outcomes only');
});

t.test('property: every implementation decodes what libzstd compresses', { skip: !compress && 'zstd-napi not installed' }, async (t) => {
  const data = fc.oneof(
    fc.uint8Array({ maxLength: 5000 }),
    fc.array(fc.constantFrom('up', 'node_cpu', '{job="x"}', '1700000000000', ' ', '\n'), { maxLength: 2000 }).map((a) => Buffer.from(a.join(''))),
  );
  fc.assert(
    fc.property(data, fc.integer({ min: -3, max: 9 }), (src, level) => {
      const z = compress!(src, level);
      return zstdAvailable.every((impl) => zstdDecompress(z, MAX, impl).equals(Buffer.from(src)));
    }),
    { numRuns: runs(150) },
  );
  t.pass('all agree');
});

t.test('SPILLWAY_ZSTD=js forces the fallback', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { pathToFileURL } = await import('node:url');
  const mod = pathToFileURL(path.join(repoRoot, 'src', 'protocol', 'zstd.ts')).href;
  const script = `const m = await import(${JSON.stringify(mod)}); console.log(m.zstdImplementation, m.zstdAvailable.join(','));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, SPILLWAY_ZSTD: 'js' },
    encoding: 'utf8',
  });
  t.equal(out.trim(), 'js js');
});
