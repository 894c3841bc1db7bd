// Compare what the exporter served (its scrape log) with what storage holds after vmagent
// scraped it and the samples went through remote-write.
import type { ScrapeRecord } from './exporter.js';
import { seriesKey, type ExportedSeries } from './victoria-metrics.js';

/** Series vmagent 1.79.5 adds for every target on every scrape, besides `up`. */
export const VMAGENT_AUTO_SERIES = [
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'scrape_timeout_seconds',
];

export interface ScrapeExpectation {
  key: string;
  metric: Record<string, string>;
  values: number[];
  /** When each scrape request reached the exporter. */
  scrapeTimes: number[];
}

/** The series vmagent should have produced from `scrapes`: exporter labels plus job and instance. */
export function expectedFromScrapes(scrapes: ScrapeRecord[], job: string): Map<string, ScrapeExpectation> {
  const out = new Map<string, ScrapeExpectation>();
  const add = (metric: Record<string, string>, value: number, time: number) => {
    const key = seriesKey(metric);
    let e = out.get(key);
    if (!e) out.set(key, (e = { key, metric, values: [], scrapeTimes: [] }));
    e.values.push(value);
    e.scrapeTimes.push(time);
  };
  for (const r of [...scrapes].sort((a, b) => a.time - b.time)) {
    for (const s of r.samples) add({ ...s.labels, job, instance: r.target }, s.value, r.time);
    add({ __name__: 'up', job, instance: r.target }, 1, r.time);
  }
  return out;
}

export interface CompareOptions {
  job: string;
  /**
   * How far a stored timestamp (vmagent's scrape start) may be from the moment the request
   * reached the exporter: it is taken before the request is sent, so it is earlier.
   */
  maxScrapeDelayMs?: number;
}

/** Every difference between the scrape log and storage; empty when storage holds exactly what was served. */
export function compareScrapes(scrapes: ScrapeRecord[], got: ExportedSeries[], opts: CompareOptions): string[] {
  const expected = expectedFromScrapes(scrapes, opts.job);
  const maxDelay = opts.maxScrapeDelayMs ?? 2_000;
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const g of got) {
    const name = g.metric.__name__ ?? '';
    if (VMAGENT_AUTO_SERIES.includes(name)) continue;
    const key = seriesKey(g.metric);
    if (seen.has(key)) problems.push(`series exported twice: ${key}`);
    seen.add(key);
    const e = expected.get(key);
    if (!e) {
      problems.push(`unexpected series ${key} (${g.values.length} samples)`);
      continue;
    }
    if (g.values.length !== e.values.length || g.values.some((v, i) => v !== e.values[i])) {
      problems.push(`series ${key}: values differ\n  served ${e.values.join(',')}\n  stored ${g.values.join(',')}`);
      continue;
    }
    for (let i = 0; i < g.timestamps.length; i++) {
      const delay = e.scrapeTimes[i]! - g.timestamps[i]!;
      if (delay < -50 || delay > maxDelay) {
        problems.push(`series ${key}: sample ${i} stored at ${g.timestamps[i]}, but that scrape reached the exporter at ${e.scrapeTimes[i]}`);
        break;
      }
    }
  }
  for (const [key, e] of expected) if (!seen.has(key)) problems.push(`missing series ${key} (served ${e.values.length} times)`);
  return problems;
}

/** Number of samples (exporter series and `up`) the scrape log implies. */
export function expectedScrapeSamples(scrapes: ScrapeRecord[]): number {
  return scrapes.reduce((n, r) => n + r.samples.length + 1, 0);
}
