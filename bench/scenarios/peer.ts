// The side-by-side peer: Debian's vmagent taking the same load into its own sink.
import type { Bench, Subject } from '../harness/context.js';
import type { FleetSpec } from '../fleet/pmm.js';
import { vmagentPath } from '../harness/targets.js';

export class SetupError extends Error {
  override name = 'SetupError';
}

export async function peerSubject(b: Bench, fleet?: FleetSpec): Promise<Subject | null> {
  if (!b.o.vmagent) {
    b.notes.push('vmagent comparison skipped (--no-vmagent).');
    return null;
  }
  if (!vmagentPath()) {
    const msg = 'vmagent is not installed (.peers/bin/vmagent), so there are no side-by-side figures; install it with `npm run peers`.';
    if (process.env.CI === 'true') throw new SetupError(`${msg} CI must have it.`);
    b.notes.push(msg);
    b.progress.log(msg);
    return null;
  }
  const sink = await b.startSink('vmagent', 1);
  const t = await b.startVmagent(sink.urls[0]!);
  b.notes.push(
    'vmagent answers 204 once a block is in its in-memory queue (its file queue is written later, without fsync); Spillway answers after the data is fsync\'d to its spool. ' +
      'The comparison is of cost per sample, not of equal guarantees; `--spillway-flag=-spool.fsync=1s` narrows the difference.',
  );
  return b.subject('vmagent', t, sink, fleet);
}
