// The bench chart as a self-contained SVG (no dependencies, no network): service throughput vs client concurrency per
// workload with each workload's raw session.run limit dashed, and latency percentiles (p50 solid, p99 dashed) vs
// concurrency on a log scale.
import type { PhaseResult } from './load.ts';

interface ChartInput {
  date: string;
  mode: string;
  machine: { cpu?: string; cores: number; node: string; onnxruntime: string };
  settings: { model: string; modelFile: string };
  sweep: PhaseResult[];
  rounds: { raw: Record<string, { pairsPerSec: number }> }[];
}

const COLORS: Record<string, string> = { rag20: '#1f77b4', rag50: '#2ca02c', long: '#d62728' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function renderChart(r: ChartInput): string {
  const W = 960;
  const H = 420;
  const panel = { w: 380, h: 290, top: 70 };
  const lefts = [80, 560];
  const workloads = [...new Set(r.sweep.map((p) => p.name.split(' ')[0]!))];
  const concs = [...new Set(r.sweep.map((p) => p.concurrency!))].sort((a, b) => a - b);
  const xOf = (left: number, c: number) => left + (concs.indexOf(c) / Math.max(1, concs.length - 1)) * panel.w;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const raw = Object.fromEntries(workloads.map((w) => [w, median(r.rounds.map((x) => x.raw[w]!.pairsPerSec))]));
  const series = (w: string) => concs.map((c) => r.sweep.find((p) => p.name === `${w} c=${c}`)!);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(`ko-rerank ${r.settings.model} (${r.settings.modelFile}), ${r.mode} bench ${r.date.slice(0, 10)}`)}</text>`,
  );
  out.push(
    `<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(`${r.machine.cores} x ${r.machine.cpu ?? '?'}, node ${r.machine.node}, onnxruntime ${r.machine.onnxruntime}; closed-loop clients over HTTP`)}</text>`,
  );

  // Panel 1: throughput.
  {
    const left = lefts[0]!;
    const ymax = niceMax(Math.max(...Object.values(raw), ...r.sweep.map((p) => p.pairsPerSec)) * 1.05);
    const y = (v: number) => panel.top + panel.h - (v / ymax) * panel.h;
    out.push(
      `<text x="${left + panel.w / 2}" y="${panel.top - 10}" text-anchor="middle" font-weight="bold">Throughput (pairs/s) vs concurrency</text>`,
    );
    for (let i = 0; i <= 5; i++) {
      const v = (ymax * i) / 5;
      out.push(`<line x1="${left}" x2="${left + panel.w}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v)}</text>`);
    }
    for (const w of workloads) {
      const pts = series(w).map((p) => `${xOf(left, p.concurrency!)},${y(p.pairsPerSec)}`);
      out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[w] ?? '#000'}" stroke-width="2"/>`);
      for (const p of series(w))
        out.push(
          `<circle cx="${xOf(left, p.concurrency!)}" cy="${y(p.pairsPerSec)}" r="3" fill="${COLORS[w] ?? '#000'}"/>`,
        );
      out.push(
        `<line x1="${left}" x2="${left + panel.w}" y1="${y(raw[w]!)}" y2="${y(raw[w]!)}" stroke="${COLORS[w] ?? '#000'}" stroke-dasharray="5,4"/>`,
      );
    }
    axisX(left, y(0));
  }
  // Panel 2: latency percentiles, log scale.
  {
    const left = lefts[1]!;
    const all = r.sweep.flatMap((p) => [p.latencyMs.p50, p.latencyMs.p99]).filter((v) => v > 0);
    const lo = 10 ** Math.floor(Math.log10(Math.min(...all)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...all)));
    const y = (v: number) =>
      panel.top + panel.h - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * panel.h;
    out.push(
      `<text x="${left + panel.w / 2}" y="${panel.top - 10}" text-anchor="middle" font-weight="bold">Request latency (ms, log) vs concurrency</text>`,
    );
    for (let v = lo; v <= hi; v *= 10) {
      out.push(`<line x1="${left}" x2="${left + panel.w}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
    }
    for (const w of workloads) {
      for (const [k, dash] of [
        ['p50', ''],
        ['p99', ' stroke-dasharray="5,4"'],
      ] as const) {
        const pts = series(w).map((p) => `${xOf(left, p.concurrency!)},${y(Math.max(lo, p.latencyMs[k]))}`);
        out.push(
          `<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[w] ?? '#000'}" stroke-width="2"${dash}/>`,
        );
      }
    }
    axisX(left, panel.top + panel.h);
  }
  // Legend.
  let lx = 80;
  const ly = H - 22;
  for (const w of workloads) {
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${COLORS[w] ?? '#000'}" stroke-width="2"/>`,
    );
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${w}</text>`);
    lx += 90;
  }
  out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="#000" stroke-dasharray="5,4"/>`);
  out.push(`<text x="${lx + 30}" y="${ly + 4}">left: raw session.run limit; right: p99 (solid: p50)</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';

  function axisX(left: number, yAxis: number): void {
    out.push(`<line x1="${left}" x2="${left + panel.w}" y1="${yAxis}" y2="${yAxis}" stroke="#333"/>`);
    out.push(`<line x1="${left}" x2="${left}" y1="${panel.top}" y2="${panel.top + panel.h}" stroke="#333"/>`);
    for (const c of concs)
      out.push(`<text x="${xOf(left, c)}" y="${panel.top + panel.h + 16}" text-anchor="middle">${c}</text>`);
    out.push(
      `<text x="${left + panel.w / 2}" y="${panel.top + panel.h + 32}" text-anchor="middle" fill="#555">concurrent clients</text>`,
    );
  }
}
