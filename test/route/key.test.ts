import fc from 'fast-check';
import t from 'tap';
import { SeriesKeyHasher, T_HI, T_LO } from '../../src/route/key.js';
import { loadWasmKeyHash } from '../../src/route/wasm.js';
import { big64, encodeWriteRequest, scanWriteRequest, xxh64Ref, type Bytes, type TestSeries } from './fixtures.js';

const WORKED_KEY =
  '00000000' + '00000000' + '0008' + '5f5f6e616d655f5f' + '0002' + '7570' + '0003' + '6a6f62' + '0004' + '6e6f6465' + '0008' + '696e7374616e6365' + '0006' + '613a39313030';

const up: TestSeries = { labels: [['__name__', 'up'], ['job', 'node'], ['instance', 'a:9100']], samples: [[1700000000000, 1]] };

const keyOf = (h: SeriesKeyHasher, s: TestSeries, acct = 0, proj = 0): Buffer => {
  const view = scanWriteRequest(encodeWriteRequest([s]));
  const n = h.build(view, 0, acct, proj); // first: build() may replace h.key when it grows
  return Buffer.from(h.key.subarray(0, n));
};

t.test('the xxhash-wasm backend loads here (package installed, self-test passed)', async (t) => {
  t.ok(loadWasmKeyHash(), 'wasm modules');
  t.equal(new SeriesKeyHasher().backend, 'wasm');
  t.equal(new SeriesKeyHasher('remote-write', { backend: 'ts' }).backend, 'ts');
});

t.test('PROTOCOL.md §6.1 worked key, byte for byte, and its hash on both backends', async (t) => {
  t.equal(keyOf(new SeriesKeyHasher(), up).toString('hex'), WORKED_KEY);
  const view = scanWriteRequest(encodeWriteRequest([up]));
  for (const backend of ['ts', 'wasm'] as const) {
    const h = new SeriesKeyHasher('remote-write', { backend });
    const tab = h.hashAll(view, 0, 0);
    t.equal(big64(tab[T_HI], tab[T_LO]), 0xbd18c03b31f863a0n, backend);
  }
  const h = new SeriesKeyHasher('remote-write', { backend: 'ts' });
  h.hash(view, 0, 0, 0);
  t.equal(big64(h.hi, h.lo), 0xbd18c03b31f863a0n, 'hash()');
});

t.test('tenant bytes, empty values skipped, label order kept', async (t) => {
  const h = new SeriesKeyHasher();
  const s: TestSeries = { labels: [['job', 'api'], ['__name__', 'x'], ['empty', ''], ['code', '200']], samples: [[1, 1]] };
  const k = keyOf(h, s, 3, 0xfffffffe);
  const expected = Buffer.concat([
    Buffer.from('00000003fffffffe', 'hex'),
    Buffer.from('0003', 'hex'), Buffer.from('job'), Buffer.from('0003', 'hex'), Buffer.from('api'),
    Buffer.from('0008', 'hex'), Buffer.from('__name__'), Buffer.from('0001', 'hex'), Buffer.from('x'),
    Buffer.from('0004', 'hex'), Buffer.from('code'), Buffer.from('0003', 'hex'), Buffer.from('200'),
  ]);
  t.same(k, expected);
});

t.test("'import' rule hashes the metric name with an empty name", async (t) => {
  const h = new SeriesKeyHasher('import');
  const k = keyOf(h, up);
  t.equal(k.toString('hex'), '0000000000000000' + '0000' + '0002' + '7570' + '00036a6f6200046e6f64650008696e7374616e63650006613a39313030');
  // a label merely starting like __name__ is kept
  const k2 = keyOf(h, { labels: [['__name__x', 'v']], samples: [] });
  t.equal(k2.subarray(8, 10).toString('hex'), '0009');
  const view = scanWriteRequest(encodeWriteRequest([up, { labels: [['__name__x', 'v'], ['__name__', 'y']], samples: [] }]));
  for (const backend of ['ts', 'wasm'] as const) {
    const tab = new SeriesKeyHasher('import', { backend }).hashAll(view, 0, 0);
    t.equal(big64(tab[T_HI], tab[T_LO]), xxh64Ref(k), `${backend} series 0`);
  }
  const ts = new SeriesKeyHasher('import', { backend: 'ts' }).hashAll(view, 0, 0);
  const wa = new SeriesKeyHasher('import', { backend: 'wasm' }).hashAll(view, 0, 0);
  t.same([ts[2], ts[3]], [wa[2], wa[3]], 'backends agree on series 1');
});

t.test('names and values over 65535 bytes are clamped to 65535 (guard)', async (t) => {
  const long = Buffer.alloc(70000, 0x61);
  const s: TestSeries = { labels: [['__name__', 'm'], [long, long]], samples: [] };
  const h = new SeriesKeyHasher();
  const k = keyOf(h, s);
  t.equal(k.length, 8 + 2 + 8 + 2 + 1 + 2 + 65535 + 2 + 65535);
  t.equal(k.readUInt16BE(8 + 13), 65535);
  const view = scanWriteRequest(encodeWriteRequest([s, up]));
  const ts = new SeriesKeyHasher('remote-write', { backend: 'ts' }).hashAll(view, 0, 0);
  const wa = new SeriesKeyHasher('remote-write', { backend: 'wasm' }).hashAll(view, 0, 0);
  t.same(Array.from(wa.subarray(0, 4)), Array.from(ts.subarray(0, 4)));
  t.equal(big64(ts[T_HI], ts[T_LO]), xxh64Ref(k));
});

// Arbitrary label bytes (0x00 included), lengths across the 1/2-byte varint boundary,
// empty names and values, any tenant: both backends equal the reference over the key.
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 12 }),
  fc.uint8Array({ minLength: 100, maxLength: 300 }),
  fc.constantFrom<Uint8Array>(Buffer.from('__name__'), new Uint8Array(0)),
);
const seriesArb = fc.record({
  labels: fc.array(fc.tuple(bytesArb, bytesArb), { maxLength: 12 }),
  samples: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.double({ noNaN: true })), { maxLength: 3 }),
});

function refKey(s: TestSeries, acct: number, proj: number, importRule: boolean): Buffer {
  const parts = [Buffer.from([acct >>> 24, acct >>> 16, acct >>> 8, acct, proj >>> 24, proj >>> 16, proj >>> 8, proj].map((x) => x & 0xff))];
  for (const [n0, v0] of s.labels) {
    const n = Buffer.from(n0 as Uint8Array);
    const v = Buffer.from(v0 as Uint8Array);
    if (v.length === 0) continue;
    const name = importRule && n.toString('latin1') === '__name__' ? Buffer.alloc(0) : n;
    const l = Buffer.alloc(2);
    l.writeUInt16BE(name.length);
    const vl = Buffer.alloc(2);
    vl.writeUInt16BE(v.length);
    parts.push(l, name, vl, v);
  }
  return Buffer.concat(parts);
}

t.test('property: TS and wasm backends equal XXH64 of the reference key', async (t) => {
  const hs = {
    'remote-write': [new SeriesKeyHasher('remote-write', { backend: 'ts' }), new SeriesKeyHasher('remote-write', { backend: 'wasm' })],
    import: [new SeriesKeyHasher('import', { backend: 'ts' }), new SeriesKeyHasher('import', { backend: 'wasm' })],
  };
  fc.assert(
    fc.property(fc.array(seriesArb, { maxLength: 8 }), fc.nat(), fc.nat(), fc.boolean(), (series, acct, proj, imp) => {
      const ts = series as unknown as TestSeries[];
      const view = scanWriteRequest(encodeWriteRequest(ts));
      const [a, b] = hs[imp ? 'import' : 'remote-write'];
      const ta = Array.from(a.hashAll(view, acct, proj).subarray(0, 2 * ts.length));
      const tb = Array.from(b.hashAll(view, acct, proj).subarray(0, 2 * ts.length));
      for (let i = 0; i < ts.length; i++) {
        const want = xxh64Ref(refKey(ts[i], acct, proj, imp));
        if (big64(ta[2 * i + T_HI], ta[2 * i + T_LO]) !== want) return false;
        if (big64(tb[2 * i + T_HI], tb[2 * i + T_LO]) !== want) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('wasm memory grows for a large request and keeps working after', async (t) => {
  const h = new SeriesKeyHasher('remote-write', { backend: 'wasm' });
  const big: TestSeries[] = [];
  for (let i = 0; i < 3000; i++) big.push({ labels: [['__name__', 'm'], ['v', Buffer.alloc(400, i & 0xff) as Bytes]], samples: [[i, i]] });
  const v1 = scanWriteRequest(encodeWriteRequest(big));
  const ref = new SeriesKeyHasher('remote-write', { backend: 'ts' }).hashAll(v1, 1, 2);
  t.same(Array.from(h.hashAll(v1, 1, 2).subarray(0, 6000)), Array.from(ref.subarray(0, 6000)));
  const v2 = scanWriteRequest(encodeWriteRequest([up]));
  const tab = h.hashAll(v2, 0, 0);
  t.equal(big64(tab[T_HI], tab[T_LO]), 0xbd18c03b31f863a0n);
});
