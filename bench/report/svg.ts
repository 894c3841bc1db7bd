// Hand-written SVG line charts: self-contained (no scripts, fonts or external assets), so
// they open in any browser and render inline in Markdown viewers that allow images.

export interface ChartSeries {
  name: string;
  /** [x, y]; y null leaves a gap. */
  points: [number, number | null][];
  color?: string;
  dashed?: boolean;
}

export interface ChartBand {
  from: number;
  to: number;
  label: string;
  color?: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  bands?: ChartBand[];
  /** Logarithmic y axis (values ≤ 0 are left out). */
  logY?: boolean;
  yFormat?: (v: number) => string;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** 1, 2, 5 × 10^k steps giving about `n` ticks over [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** Short number: 1.2M, 350k, 12, 0.5. */
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 10 || a === 0) return `${Math.round(v)}`;
  return `${+v.toFixed(2)}`;
}

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 900;
  const H = spec.height ?? 320;
  const m = { l: 70, r: 20, t: 48, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const fmt = spec.yFormat ?? shortNumber;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      xs.push(x);
      if (y !== null && Number.isFinite(y) && (!spec.logY || y > 0)) ys.push(y);
    }
  }
  for (const b of spec.bands ?? []) xs.push(b.from, b.to);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs, x0 + 1) : 1;
  let y0: number;
  let y1: number;
  let yTicks: number[];
  if (spec.logY) {
    const lo = ys.length ? Math.min(...ys) : 1;
    const hi = ys.length ? Math.max(...ys) : 10;
    y0 = 10 ** Math.floor(Math.log10(lo));
    y1 = 10 ** Math.ceil(Math.log10(hi));
    if (y1 <= y0) y1 = y0 * 10;
    yTicks = [];
    for (let v = y0; v <= y1 * 1.0001; v *= 10) yTicks.push(v);
  } else {
    y0 = 0;
    const hi = ys.length ? Math.max(...ys) : 1;
    yTicks = niceTicks(0, hi > 0 ? hi * 1.05 : 1);
    y1 = Math.max(yTicks[yTicks.length - 1]!, hi, 1e-9);
  }
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) =>
    spec.logY ? m.t + ph - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * ph : m.t + ph - ((y - y0) / (y1 - y0)) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`);
  out.push(`<title>${esc(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.l}" y="18" font-size="14" font-weight="600">${esc(spec.title)}</text>`);
  // Bands under everything else.
  (spec.bands ?? []).forEach((b, i) => {
    const bx = sx(b.from);
    const bw = Math.max(1, sx(b.to) - bx);
    const color = b.color ?? (i % 2 ? '#fde0c5' : '#fbd3d3');
    out.push(`<rect x="${bx.toFixed(1)}" y="${m.t}" width="${bw.toFixed(1)}" height="${ph}" fill="${color}" opacity="0.7"><title>${esc(b.label)}</title></rect>`);
    // Label only bands wide enough for it; alternate rows so neighbours do not collide.
    if (bw >= b.label.length * 5.5 + 6) out.push(`<text x="${(bx + 3).toFixed(1)}" y="${m.t + 12 + (i % 2) * 12}" font-size="10" fill="#5a3b00">${esc(b.label)}</text>`);
  });
  // Grid and axes.
  for (const v of yTicks) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${esc(fmt(v))}</text>`);
  }
  for (const v of niceTicks(x0, x1, 8)) {
    if (v < x0 || v > x1) continue;
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.t + ph}" x2="${x}" y2="${m.t + ph + 4}" stroke="#666"/>`);
    out.push(`<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle" fill="#444">${esc(shortNumber(v))}</text>`);
  }
  out.push(`<line x1="${m.l}" y1="${m.t + ph}" x2="${m.l + pw}" y2="${m.t + ph}" stroke="#666"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + ph}" stroke="#666"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#333">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(spec.yLabel)}</text>`);
  // Lines.
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${run.join(' ')}"/>`);
      else if (run.length === 1) {
        const [x, y] = run[0]!.split(',');
        out.push(`<circle cx="${x}" cy="${y}" r="2" fill="${color}"/>`);
      }
      run = [];
    };
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y) || (spec.logY && y <= 0)) {
        flush();
        continue;
      }
      run.push(`${sx(x).toFixed(1)},${sy(Math.min(y, y1)).toFixed(1)}`);
    }
    flush();
  });
  // Legend.
  let lx = m.l;
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    out.push(`<line x1="${lx}" y1="34" x2="${lx + 18}" y2="34" stroke="${color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 22}" y="34" dominant-baseline="middle" fill="#222">${esc(s.name)}</text>`);
    lx += 30 + s.name.length * 6.5;
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
