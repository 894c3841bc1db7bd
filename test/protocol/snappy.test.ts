import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import {
  snappyAvailable,
  snappyCompress,
  snappyDeclaredLength,
  snappyImplementation,
  snappyUncompress,
  validateSnappyBlock,
  type SnappyImplementation,
} from '../../src/protocol/snappy.js';
import { capturesDir, repoRoot } from '../helpers/prw-reference.js';

const MAX = 64 * 1024 * 1024;

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

t.test('an implementation is active and reported', async (t) => {
  t.ok(snappyAvailable.length >= 1);
  t.equal(snappyImplementation, snappyAvailable[0]);
  t.ok(snappyAvailable.includes('js'), 'the pure-JS fallback always loads');
  t.comment(`active: ${snappyImplementation}; available: ${snappyAvailable.join(', ')}`);
});

t.test('declared length', async (t) => {
  for (const n of [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 32 - 1]) {
    t.equal(snappyDeclaredLength(Buffer.concat([uvarint(n), Buffer.from([0])])), n, `${n}`);
  }
  const bad: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /empty snappy block at offset 0/],
    ['truncated', Buffer.from([0x80, 0x80]), /truncated length varint at offset 2/],
    ['longer than 5 bytes', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 5 bytes/],
    ['over 32 bits', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f]), /exceeds 32 bits/],
  ];
  for (const [name, buf, re] of bad) t.throws(() => snappyDeclaredLength(buf), { code: 'SPW_ERR_BAD_SNAPPY', message: re }, name);
});

const inputs: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([42])],
  ['text', Buffer.from('node_cpu_seconds_total{cpu="0",mode="idle"} '.repeat(500))],
  ['random 100 KiB', Buffer.from(Array.from({ length: 100 * 1024 }, (_, i) => (i * 2654435761) >>> 24))],
  ['zeros 1 MiB', Buffer.alloc(1024 * 1024)],
];

for (const impl of snappyAvailable) {
  t.test(`round trips (${impl})`, async (t) => {
    for (const [name, input] of inputs) {
      const c = snappyCompress(input, impl);
      t.equal(snappyDeclaredLength(c), input.length, `${name}: declared length`);
      validateSnappyBlock(c);
      for (const other of snappyAvailable) {
        t.ok(snappyUncompress(c, MAX, other).equals(input), `${name}: ${impl} → ${other}`);
      }
    }
  });

  t.test(`errors (${impl})`, async (t) => {
    const input = inputs[2]![1];
    const good = snappyCompress(input, impl);
    const varLen = uvarint(input.length).length;
    t.throws(() => snappyUncompress(good, input.length - 1, impl), { code: 'SPW_ERR_DECOMPRESSED_TOO_LARGE', message: new RegExp(`declares ${input.length} .* limit is ${input.length - 1}`) });
    t.ok(snappyUncompress(good, input.length, impl).equals(input), 'exactly at the limit is fine');
    // A tiny body declaring 1 GiB: refused by size, not by content, and nothing of that size allocated.
    t.throws(() => snappyUncompress(Buffer.concat([uvarint(2 ** 30), Buffer.from('xx')]), MAX, impl), {
      code: 'SPW_ERR_DECOMPRESSED_TOO_LARGE',
    });
    t.throws(() => snappyUncompress(Buffer.concat([uvarint(MAX), Buffer.from('xx')]), MAX, impl), {
      code: 'SPW_ERR_BAD_SNAPPY',
      message: /cannot expand/,
    });
    t.throws(() => snappyUncompress(good.subarray(0, good.length - 5), MAX, impl), { code: 'SPW_ERR_BAD_SNAPPY' }, 'truncated');
    const shorter = Buffer.concat([uvarint(input.length - 1), good.subarray(varLen)]);
    t.throws(() => snappyUncompress(shorter, MAX, impl), { code: 'SPW_ERR_BAD_SNAPPY' }, 'declares one byte less than it holds');
    const longer = Buffer.concat([uvarint(input.length + 1), good.subarray(varLen)]);
    t.throws(() => snappyUncompress(longer, MAX, impl), { code: 'SPW_ERR_BAD_SNAPPY' }, 'declares one byte more than it holds');
    // Copy reaching before the start of the output.
    t.throws(() => snappyUncompress(Buffer.from([0x08, 0x01 | (0 << 2), 0x05]), MAX, impl), { code: 'SPW_ERR_BAD_SNAPPY' });
    // The framed stream format is not what remote write sends.
    const framed = Buffer.concat([Buffer.from([0xff, 0x06, 0x00, 0x00]), Buffer.from('sNaPpY'), Buffer.from([0x01, 0x05, 0, 0, 0, 0, 0, 0x61])]);
    t.throws(() => snappyUncompress(framed, MAX, impl), { code: /SPW_ERR_BAD_SNAPPY|SPW_ERR_DECOMPRESSED_TOO_LARGE/ });
    t.throws(() => snappyUncompress(Buffer.alloc(0), MAX, impl), { code: 'SPW_ERR_BAD_SNAPPY' });
  });
}

t.test('validateSnappyBlock pinpoints the offending element', async (t) => {
  // Declared 4: literal "ab" then a 1-byte-offset copy of 4 bytes back 2 → 6 bytes, too many.
  t.throws(() => validateSnappyBlock(Buffer.from([0x04, 0x04, 0x61, 0x62, 0x01, 0x02])), { message: /output exceeds the declared 4 bytes at offset 4/ });
  t.throws(() => validateSnappyBlock(Buffer.from([0x06, 0x04, 0x61, 0x62, 0x01, 0x03])), { message: /copy offset 3 reaches before the start of the output at offset 4/ });
  t.throws(() => validateSnappyBlock(Buffer.from([0x06, 0x0c, 0x61])), { message: /literal of 4 bytes runs past the block at offset 1/ });
  t.throws(() => validateSnappyBlock(Buffer.from([0x06, 0xf4, 0x61])), { message: /truncated literal length at offset 1/ });
  t.throws(() => validateSnappyBlock(Buffer.from([0x06, 0x04, 0x61, 0x62, 0x02, 0x01])), { message: /truncated copy at offset 4/ });
  t.throws(() => validateSnappyBlock(Buffer.from([0x06, 0x04, 0x61, 0x62])), { message: /block produced 2 bytes, declared 6 at offset 4/ });
  validateSnappyBlock(Buffer.from([0x06, 0x04, 0x61, 0x62, 0x01, 0x02]));
  t.ok(snappyUncompress(Buffer.from([0x06, 0x04, 0x61, 0x62, 0x01, 0x02]), 6).equals(Buffer.from('ababab')));
});

t.test('captured snappy bodies uncompress identically with every implementation', async (t) => {
  let n = 0;
  for (const client of ['vmagent-1.79.5', 'prometheus-2.42-agent']) {
    for (let i = 0; i < 4; i++) {
      const bin = fs.readFileSync(path.join(capturesDir, client, `body-${i}.bin`));
      const pb = fs.readFileSync(path.join(capturesDir, client, `body-${i}.pb`));
      validateSnappyBlock(bin);
      for (const impl of snappyAvailable) t.ok(snappyUncompress(bin, MAX, impl).equals(pb), `${client} body-${i} (${impl})`);
      n++;
    }
  }
  t.equal(n, 8);
});

t.test('property: implementations agree on random data', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 4096 }), fc.string({ maxLength: 2000 }).map((s) => new TextEncoder().encode(s.repeat(3)))), (data) => {
      const input = Buffer.from(data);
      for (const a of snappyAvailable) {
        const c = snappyCompress(input, a);
        validateSnappyBlock(c);
        for (const b of snappyAvailable as SnappyImplementation[]) {
          if (!snappyUncompress(c, MAX, b).equals(input)) return false;
        }
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random inputs');
});

t.test('SPILLWAY_SNAPPY=js forces the fallback', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { pathToFileURL } = await import('node:url');
  const mod = pathToFileURL(path.join(repoRoot, 'src', 'protocol', 'snappy.ts')).href;
  const script = `const m = await import(${JSON.stringify(mod)}); console.log(m.snappyImplementation, m.snappyAvailable.join(','));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, SPILLWAY_SNAPPY: 'js' },
    encoding: 'utf8',
  });
  t.equal(out.trim(), 'js js');
});

t.test('snappyConcat joins blocks without decompressing them', async (t) => {
  const fc = (await import('fast-check')).default;
  const { snappyConcat } = await import('../../src/protocol/snappy.js');
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 2000 }).map((s) => Buffer.from(s.repeat(3)))), { minLength: 1, maxLength: 6 }), (parts) => {
      const joined = snappyConcat(parts.map((p) => snappyCompress(p)));
      const want = Buffer.concat(parts.map((p) => Buffer.from(p)));
      for (const impl of snappyAvailable) {
        if (!snappyUncompress(joined, 1 << 24, impl).equals(want)) throw new Error(`${impl} decodes the joined block differently`);
      }
    }),
    { numRuns: 200 },
  );
  t.pass('every implementation decodes the joined block to the joined contents');
});
