// Metrics of the ingest protocols beyond remote-write 1.0: what a request carried that could
// not be forwarded, and import lines that could not be used. Created once per registry
// (ProtocolMetrics.of), so every WriteHandler sharing a registry shares the handles.

import { Counter, type Registry } from 'prom-client';

const byRegistry = new WeakMap<Registry, ProtocolMetrics>();

export class ProtocolMetrics {
  /** Parts of accepted requests that were not forwarded, by protocol and what they were. */
  readonly unforwarded: Counter<'protocol' | 'what'>;
  /** Import lines skipped because they could not be parsed, by format. */
  readonly importBadLines: Counter<'format'>;

  private constructor(registry: Registry) {
    this.unforwarded = new Counter({
      name: 'spillway_ingest_unforwarded_total',
      help:
        'Parts of accepted requests that Spillway cannot forward, by protocol and what: remote-write 2.0 per-series "metadata" and ' +
        '"created_timestamp" (remote-write 1.0 has no place for them), "histograms" and "exemplars" when every node is a vmstorage node.',
      labelNames: ['protocol', 'what'] as const,
      registers: [registry],
    });
    this.importBadLines = new Counter({
      name: 'spillway_ingest_import_bad_lines_total',
      help: 'Import lines skipped because they could not be parsed (the rest of the body is accepted), by format.',
      labelNames: ['format'] as const,
      registers: [registry],
    });
  }

  /** The handles registered in `registry`, created on first use. */
  static of(registry: Registry): ProtocolMetrics {
    let m = byRegistry.get(registry);
    if (!m) {
      m = new ProtocolMetrics(registry);
      byRegistry.set(registry, m);
    }
    return m;
  }
}
