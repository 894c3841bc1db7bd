// What a scenario hands to the report.
import type { Bench, Subject } from '../harness/context.js';
import type { RoundResult, TargetSummary } from '../harness/measure.js';
import type { FleetInfo } from '../report/report.js';

export interface ScenarioResult {
  title: string;
  fleet: FleetInfo | null;
  targets: Record<string, TargetSummary>;
  rounds: RoundResult[];
  details: Record<string, unknown>;
  sections: { title: string; markdown: string }[];
  /** Acknowledged samples never delivered, over all targets. */
  lostSamples: number;
}

export type Scenario = (b: Bench) => Promise<ScenarioResult>;

export function fleetInfo(b: Bench, s: Subject): FleetInfo {
  const f = s.gen.info;
  const o = b.o;
  return {
    hosts: f.hosts,
    seriesPerHost: o.seriesPerHost,
    intervalSec: o.intervalSec,
    churn: o.churn,
    series: f.series,
    samplesPerSecAtInterval: Math.round(f.series / o.intervalSec),
    batch: o.batch,
    samplesPerRequest: o.samplesPerRequest,
    meanBodySamples: f.meanBodySamples,
    meanSeriesBytes: f.meanSeriesBytes,
    lanes: f.lanes,
  };
}
