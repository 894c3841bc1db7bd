// Model check: random appends (concurrent, random sizes around the segment size), reads,
// commits and reopens against a plain array. The queue must always read back exactly the
// records not yet committed, in append order, with exact pending counts.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import fc from 'fast-check';
import { FileNodeSpool } from '../../src/spool/node-spool.js';
import { FRAME_HEADER } from '../../src/spool/record.js';
import { intact, readAll, rec, seqOf, spoolOpts } from './helpers.js';

type Op = { t: 'append'; sizes: number[] } | { t: 'commit'; n: number } | { t: 'reopen' } | { t: 'read' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('append' as const), sizes: fc.array(fc.integer({ min: 4, max: 900 }), { minLength: 1, maxLength: 12 }) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('commit' as const), n: fc.integer({ min: 1, max: 10 }) }), weight: 2 },
  { arbitrary: fc.constant({ t: 'reopen' as const }), weight: 1 },
  { arbitrary: fc.constant({ t: 'read' as const }), weight: 2 },
);

t.test('spool behaves like an array', async (t) => {
  const root = fs.mkdtempSync(`${os.tmpdir()}/spool-model-`);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 300, max: 2000 }), fc.integer({ min: 0, max: 4000 }), fc.array(op, { minLength: 1, maxLength: 25 }), async (segmentSize, cache, ops) => {
      const dir = `${root}/${run++}`;
      const opts = spoolOpts(dir, { segmentSize, memoryCacheBytes: cache });
      let s = await FileNodeSpool.open(dir, 'm', opts);
      const model: { seq: number; size: number }[] = [];
      let seq = 0;
      const check = async () => {
        const got = await readAll(s);
        if (got.map(seqOf).join() !== model.map((m) => m.seq).join()) throw new Error(`read ${got.map(seqOf).join()} want ${model.map((m) => m.seq).join()}`);
        if (!got.every(intact)) throw new Error('record damaged');
        const st = s.stats();
        if (st.pendingRecords !== model.length) throw new Error(`pendingRecords ${st.pendingRecords} want ${model.length}`);
        const bytes = model.reduce((a, m) => a + FRAME_HEADER + m.size, 0);
        if (st.pendingBytes !== bytes) throw new Error(`pendingBytes ${st.pendingBytes} want ${bytes}`);
        return got;
      };
      try {
        for (const o of ops) {
          if (o.t === 'append') {
            // One concurrent burst: all join the same group commit, in call order.
            const ps = o.sizes.map((size) => {
              model.push({ seq, size });
              return s.append(rec(seq++, size));
            });
            await Promise.all(ps);
          } else if (o.t === 'commit') {
            const got = await readAll(s);
            const k = Math.min(o.n, got.length);
            if (k > 0) await s.commit(got[k - 1]!.nextOffset);
            model.splice(0, k);
          } else if (o.t === 'reopen') {
            await s.close();
            s = await FileNodeSpool.open(dir, 'm', opts);
            if (s.recovery.truncatedBytes !== 0 || s.recovery.movedAside.length !== 0) throw new Error('clean close needed repairs');
          } else {
            await check();
          }
        }
        await check();
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 40 },
  );
  t.pass('model holds');
});
