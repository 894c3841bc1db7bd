import fc from 'fast-check';
import t from 'tap';
import { Ring } from '../../src/route/ring.js';
import { big64, hex64, mixRef, xxh64Ref } from './fixtures.js';

const H = 0xbd18c03b31f863a0n; // PROTOCOL.md §6.1 worked key
const hi = (h: bigint): number => Number(h >> 32n) | 0;
const lo = (h: bigint): number => Number(h & 0xffffffffn) | 0;

/** Reference primary: BigInt scores, strictly greater wins. */
function refPrimary(ids: string[], h: bigint): number {
  let best = 0;
  let bestScore = -1n;
  ids.forEach((id, i) => {
    const s = mixRef(xxh64Ref(Buffer.from(id)) ^ h);
    if (s > bestScore) {
      best = i;
      bestScore = s;
    }
  });
  return best;
}

t.test('PROTOCOL.md §6.1 two-node example: node hashes, scores, primary 0', async (t) => {
  const ring = new Ring(['127.0.0.1:18400', '127.0.0.1:18410']);
  t.equal(hex64(ring.nodeHashHi[0], ring.nodeHashLo[0]), '7290e807de972af1');
  t.equal(hex64(ring.nodeHashHi[1], ring.nodeHashLo[1]), 'be5b151380dde124');
  const out = new Uint32Array(2);
  ring.score(0, hi(H), lo(H), out);
  t.equal(hex64(out[0], out[1]), 'd6f82fe7c7e3f69d');
  ring.score(1, hi(H), lo(H), out);
  t.equal(hex64(out[0], out[1]), '6595ccc71374a2db');
  t.equal(ring.primary(hi(H), lo(H)), 0);
});

t.test('PROTOCOL.md §6.1 three-node example: primary index 2', async (t) => {
  const ids = ['vmstorage-1:8400', 'vmstorage-2:8400', 'vmstorage-3:8400'];
  const ring = new Ring(ids);
  t.equal(ring.primary(hi(H), lo(H)), 2);
  t.equal(refPrimary(ids, H), 2, 'reference agrees');
});

t.test('property: primary equals the BigInt reference; the winner ignores list order', async (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 9 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      (ids, h) => {
        const ring = new Ring(ids);
        const p = ring.primary(hi(h), lo(h));
        if (p !== refPrimary(ids, h)) return false;
        const rev = [...ids].reverse();
        return rev[new Ring(rev).primary(hi(h), lo(h))] === ids[p];
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

t.test('ties go to the first index; one node short-circuits to 0', async (t) => {
  // identical identity strings give identical scores for every key
  const ring = new Ring(['a:1', 'b:2', 'a:1']);
  let sawZero = 0;
  for (let i = 0; i < 2000; i++) {
    const p = ring.primary(Math.imul(i, 0x9e3779b1), i * 7919);
    t.not(p, 2);
    if (p === 0) sawZero++;
  }
  t.ok(sawZero > 0);
  t.equal(new Ring(['only']).primary(123, 456), 0);
  t.throws(() => new Ring([]));
});

t.test('replicas (PROTOCOL.md §6.2): next list indices after the primary, distinct, rf capped at N', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const ring = new Ring(ids);
  const out = new Int32Array(8);
  for (let i = 0; i < 500; i++) {
    const h1 = Math.imul(i + 1, 0x85ebca6b);
    const h2 = Math.imul(i + 3, 0xc2b2ae35);
    const p = ring.primary(h1, h2);
    t.equal(ring.replicas(h1, h2, 1, out), 1);
    t.equal(out[0], p);
    t.equal(ring.replicas(h1, h2, 3, out), 3);
    t.same(Array.from(out.subarray(0, 3)), [p, (p + 1) % 4, (p + 2) % 4]);
    t.equal(ring.replicas(h1, h2, 9, out), 4, 'capped at N');
    t.equal(new Set(out.subarray(0, 4)).size, 4, 'distinct');
  }
  t.equal(ring.replicas(1, 2, 0, out), 0);
  t.equal(new Ring(['x']).replicas(1, 2, 3, out), 1);
});

t.test('exclude: rendezvous over the remaining nodes, replicas skip excluded ones', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const ring = new Ring(ids);
  const ex = new Uint8Array(5);
  ex[1] = 1;
  ex[3] = 1;
  const out = new Int32Array(5);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (h) => {
      const want = ['n0', 'n2', 'n4'][refPrimary(['n0', 'n2', 'n4'], h)];
      const p = ring.primary(hi(h), lo(h), ex);
      if (ids[p] !== want) return false;
      const k = ring.replicas(hi(h), lo(h), 5, out, ex);
      if (k !== 3 || out[0] !== p) return false;
      const rest = Array.from(out.subarray(0, k));
      const expected = [0, 1, 2, 3, 4].map((d) => (p + d) % 5).filter((i) => ex[i] === 0);
      return JSON.stringify(rest) === JSON.stringify(expected);
    }),
    { numRuns: 300 },
  );
  // unexcluded nodes keep their keys (only the excluded nodes' keys move)
  for (let i = 0; i < 1000; i++) {
    const h = BigInt.asUintN(64, BigInt(i) * 0x9e3779b97f4a7c15n);
    const p = ring.primary(hi(h), lo(h));
    if (ex[p] === 0) t.equal(ring.primary(hi(h), lo(h), ex), p);
  }
  ex.fill(1);
  t.equal(ring.primary(1, 2, ex), -1);
  t.equal(ring.replicas(1, 2, 2, out, ex), 0);
});

t.test('adding a node moves about 1/N of the keys, all to the new node', async (t) => {
  for (const n of [2, 4, 7]) {
    const before = new Ring(Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:8400`));
    const after = new Ring(Array.from({ length: n + 1 }, (_, i) => `10.0.0.${i + 1}:8400`));
    const keys = 20000;
    let moved = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < keys; i++) {
      const h = xxh64Ref(Buffer.from(`series-${n}-${i}`));
      const a = before.primary(hi(h), lo(h));
      const b = after.primary(hi(h), lo(h));
      if (a !== b) {
        moved++;
        if (b !== n) movedElsewhere++;
      }
    }
    const frac = moved / keys;
    const ideal = 1 / (n + 1);
    t.ok(Math.abs(frac - ideal) < ideal * 0.25, `N=${n}->${n + 1}: moved ${(frac * 100).toFixed(1)}% (ideal ${(ideal * 100).toFixed(1)}%)`);
    t.equal(movedElsewhere, 0, 'keys move only to the added node');
  }
});

t.test('the hash halves may be passed as int32 or uint32', async (t) => {
  const ring = new Ring(['a', 'b', 'c', 'd']);
  const h = 0xfedcba9876543210n;
  t.equal(ring.primary(hi(h), lo(h)), ring.primary(Number(h >> 32n), Number(h & 0xffffffffn)));
  t.equal(ring.primary(hi(h), lo(h)), refPrimary(['a', 'b', 'c', 'd'], big64(hi(h), lo(h))));
});
