/**
 * bench/chart.svg, hand-written SVG: two horizontal bar panels (msg/s, client CPU ms per message)
 * with one row per configuration and one bar per greeting mode; the bar is the median, the
 * whisker the min–max over the runs.
 */
import type { ConfigurationResult, Stat } from './analyze.js';
import { num } from './report.js';
import type { GreetingMode } from './workload.js';

const WIDTH = 960;
const LABEL_WIDTH = 210;
const VALUE_WIDTH = 90;
const BAR_HEIGHT = 13;
const ROW_GAP = 12;
const PANEL_TITLE = 34;
const COLORS: Record<GreetingMode, string> = { delay: '#9ecae1', 'no-delay': '#2b6ca3' };
const GREETING_TEXT: Record<GreetingMode, string> = { delay: 'smtp-server greeting delay 100 ms (as shipped)', 'no-delay': 'greeting delay removed' };

const escape = (text: string): string => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

interface Row {
  readonly label: string;
  readonly bars: readonly { readonly greeting: GreetingMode; readonly value: Stat }[];
}

function rowLabel(c: ConfigurationResult): string {
  const routes = `${c.routes} route${c.routes === 1 ? '' : 's'}`;
  switch (c.kind) {
    case 'worker':
      return `mailrelay worker · ${routes}`;
    case 'pooled':
      return `raw pooled nodemailer · ${routes}`;
    case 'floor':
      return `floor: pooled + claim · ${routes}`;
    case 'naive-serial':
      return 'naive, serial';
    case 'naive-16':
      return 'naive, 16 in flight';
  }
}

function rows(configurations: readonly ConfigurationResult[], pick: (c: ConfigurationResult) => Stat): Row[] {
  const out = new Map<string, { greeting: GreetingMode; value: Stat }[]>();
  for (const c of configurations) {
    const label = rowLabel(c);
    const list = out.get(label) ?? [];
    list.push({ greeting: c.greeting, value: pick(c) });
    out.set(label, list);
  }
  return [...out].map(([label, bars]) => ({ label, bars: bars.sort((a, b) => a.greeting.localeCompare(b.greeting)) }));
}

function panel(title: string, data: readonly Row[], top: number): { svg: string; height: number } {
  const max = Math.max(1e-9, ...data.flatMap((r) => r.bars.map((b) => b.value.max))) * 1.02;
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const x = (value: number): number => LABEL_WIDTH + (value / max) * plotWidth;
  const parts: string[] = [`<text x="10" y="${top + 20}" class="title">${escape(title)}</text>`];
  let y = top + PANEL_TITLE;
  for (const row of data) {
    const rowHeight = row.bars.length * BAR_HEIGHT;
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${y + rowHeight / 2 + 4}" class="label" text-anchor="end">${escape(row.label)}</text>`);
    for (const bar of row.bars) {
      const { median, min, max: high } = bar.value;
      const mid = y + BAR_HEIGHT / 2;
      parts.push(
        `<rect x="${LABEL_WIDTH}" y="${y + 1}" width="${Math.max(0.5, x(median) - LABEL_WIDTH).toFixed(1)}" height="${BAR_HEIGHT - 2}" fill="${COLORS[bar.greeting]}"><title>${escape(`${row.label}, ${GREETING_TEXT[bar.greeting]}: ${num(median)} (min ${num(min)}, max ${num(high)})`)}</title></rect>`,
      );
      if (bar.value.n > 1) {
        parts.push(
          `<path d="M${x(min).toFixed(1)},${mid} H${x(high).toFixed(1)} M${x(min).toFixed(1)},${mid - 3} V${mid + 3} M${x(high).toFixed(1)},${mid - 3} V${mid + 3}" class="whisker"/>`,
        );
      }
      parts.push(`<text x="${(x(high) + 5).toFixed(1)}" y="${mid + 4}" class="value">${escape(num(median))}</text>`);
      y += BAR_HEIGHT;
    }
    y += ROW_GAP;
  }
  parts.push(`<line x1="${LABEL_WIDTH}" y1="${top + PANEL_TITLE - 4}" x2="${LABEL_WIDTH}" y2="${y - ROW_GAP + 4}" class="axis"/>`);
  return { svg: parts.join('\n'), height: y - top };
}

/** The chart as an SVG document. */
export function renderChart(configurations: readonly ConfigurationResult[], subtitle: string): string {
  const runs = Math.max(1, ...configurations.map((c) => c.msgPerSec.n));
  const header = 58;
  const throughput = panel(`Messages per second (median of ${runs} runs; whisker = min–max) — higher is better`, rows(configurations, (c) => c.msgPerSec), header);
  const cpu = panel('Client CPU milliseconds per message — lower is better', rows(configurations, (c) => c.cpuMsPerMsg), header + throughput.height + 16);
  const legendTop = header + throughput.height + 16 + cpu.height + 10;
  const greetings = [...new Set(configurations.map((c) => c.greeting))];
  const legend = greetings
    .map((g, i) => `<rect x="${10 + i * 330}" y="${legendTop}" width="12" height="12" fill="${COLORS[g]}"/><text x="${28 + i * 330}" y="${legendTop + 10}" class="label">${escape(GREETING_TEXT[g])}</text>`)
    .join('\n');
  const height = legendTop + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
.title { font-size: 14px; font-weight: bold; fill: #222; }
.subtitle { font-size: 11px; fill: #555; }
.label { font-size: 12px; fill: #222; }
.value { font-size: 11px; fill: #333; }
.whisker { stroke: #222; stroke-width: 1; fill: none; }
.axis { stroke: #999; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" class="title" style="font-size:16px">mailrelay: npm run bench</text>
<text x="10" y="40" class="subtitle">${escape(subtitle)}</text>
${throughput.svg}
${cpu.svg}
${legend}
</svg>
`;
}
