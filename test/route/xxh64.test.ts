import fc from 'fast-check';
import t from 'tap';
import { HASH_HI, HASH_LO, xxh64, xxh64View } from '../../src/route/xxh64.js';
import { big64, xxh64Ref } from './fixtures.js';

const hash = (b: Uint8Array, start = 0, end = b.length): bigint => {
  const out = new Uint32Array(2);
  xxh64(b, start, end, out);
  return big64(out[HASH_HI], out[HASH_LO]);
};

t.test('known XXH64 vectors (seed 0)', async (t) => {
  t.equal(hash(Buffer.alloc(0)), 0xef46db3751d8e999n, 'empty');
  t.equal(hash(Buffer.from('abc')), 0x44bc2cf5ad770999n, 'abc');
  t.equal(hash(Buffer.from('Nobody inspects the spammish repetition')), 0xfbcea83c8a378bf1n);
  // PROTOCOL.md §6.1 worked routing key (51 bytes)
  const key = Buffer.from(
    '00000000' + '00000000' + '0008' + '5f5f6e616d655f5f' + '0002' + '7570' + '0003' + '6a6f62' + '0004' + '6e6f6465' + '0008' + '696e7374616e6365' + '0006' + '613a39313030',
    'hex',
  );
  t.equal(key.length, 51);
  t.equal(hash(key), 0xbd18c03b31f863a0n, 'PROTOCOL.md worked key');
  // node identity hashes of the §6.1 two-node example
  t.equal(hash(Buffer.from('127.0.0.1:18400')), 0x7290e807de972af1n);
  t.equal(hash(Buffer.from('127.0.0.1:18410')), 0xbe5b151380dde124n);
});

t.test('the BigInt reference agrees with the known vectors', async (t) => {
  t.equal(xxh64Ref(Buffer.alloc(0)), 0xef46db3751d8e999n);
  t.equal(xxh64Ref(Buffer.from('abc')), 0x44bc2cf5ad770999n);
  t.equal(xxh64Ref(Buffer.from('Nobody inspects the spammish repetition')), 0xfbcea83c8a378bf1n);
});

t.test('every length 0..300 matches the BigInt reference (all code paths)', async (t) => {
  const data = Buffer.alloc(400);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  let bad = 0;
  for (let len = 0; len <= 300; len++) if (hash(data, 50, 50 + len) !== xxh64Ref(data.subarray(50, 50 + len))) bad++;
  t.equal(bad, 0);
});

t.test('property: random bytes at random offsets match the BigInt reference', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(40), fc.nat(40), (bytes, pre, post) => {
      const b = Buffer.alloc(pre + bytes.length + post, 0xa5);
      b.set(bytes, pre);
      return hash(b, pre, pre + bytes.length) === xxh64Ref(bytes);
    }),
    { numRuns: 2000 },
  );
  // all-0xff words exercise every carry in the limb arithmetic
  for (const len of [8, 31, 32, 33, 64, 100]) t.equal(hash(Buffer.alloc(len, 0xff)), xxh64Ref(Buffer.alloc(len, 0xff)), `0xff x ${len}`);
});

t.test('xxh64View reads through a DataView with an offset', async (t) => {
  const b = Buffer.from('xxxxNobody inspects the spammish repetitionyyyy');
  const out = new Uint32Array(2);
  xxh64View(new DataView(b.buffer, b.byteOffset, b.length), 4, b.length - 4, out);
  t.equal(big64(out[HASH_HI], out[HASH_LO]), 0xfbcea83c8a378bf1n);
});
