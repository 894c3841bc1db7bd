import t from 'tap';
import path from 'node:path';
import protobuf from 'protobufjs';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { Prw2Encoder } from '../../src/protocol/prw2/encode.js';
import { protoDir } from '../helpers/prw-reference.js';

protobuf.util.Long = undefined as never;
protobuf.configure();

t.test('1.0 → 2.0: labels become symbol references, samples copied, decoded by protobufjs', async (t) => {
  const root = await protobuf.load(path.join(protoDir, 'io', 'prometheus', 'write', 'v2', 'types.proto'));
  const Request = root.lookupType('io.prometheus.write.v2.Request');
  const fc = (await import('fast-check')).default;
  const enc = new Prw2Encoder();
  const label = fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 12 }));
  const sample = fc.tuple(fc.double({ noNaN: true }), fc.integer({ min: 0, max: 2 ** 41 }));
  const series = fc.record({ labels: fc.array(label, { maxLength: 6 }), samples: fc.array(sample, { minLength: 1, maxLength: 4 }) });
  fc.assert(
    fc.property(fc.array(series, { maxLength: 12 }), (input) => {
      const out = enc.encode(encodeWriteRequest(input));
      const msg = Request.toObject(Request.decode(out.body), { defaults: true }) as {
        symbols: string[];
        timeseries: { labelsRefs: number[]; samples: { value: number; timestamp: number }[] }[];
      };
      if (msg.symbols[0] !== '') throw new Error('first symbol must be empty');
      if (new Set(msg.symbols).size !== msg.symbols.length) throw new Error('symbols are not unique');
      if (msg.timeseries.length !== input.length) throw new Error('series count');
      msg.timeseries.forEach((s, i) => {
        const labels = [];
        for (let k = 0; k < s.labelsRefs.length; k += 2) labels.push([msg.symbols[s.labelsRefs[k]!], msg.symbols[s.labelsRefs[k + 1]!]]);
        if (JSON.stringify(labels) !== JSON.stringify(input[i]!.labels)) throw new Error(`labels of series ${i}`);
        if (JSON.stringify(s.samples.map((x) => [x.value, x.timestamp])) !== JSON.stringify(input[i]!.samples)) throw new Error(`samples of series ${i}`);
      });
      if (out.samples !== input.reduce((n, s) => n + s.samples.length, 0)) throw new Error('sample count');
    }),
    { numRuns: 200 },
  );
  t.pass('200 random requests round-trip');
});
