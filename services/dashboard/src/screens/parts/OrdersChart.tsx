// Orders per minute, drawn with uPlot (canvas; it sizes its own elements through
// element.style, which the CSP allows).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Bucket {
  start: string;
  orders: number;
}

export default function OrdersChart({
  buckets,
  tz,
  seriesLabel,
  bucketSeconds,
}: {
  buckets: Bucket[];
  tz: string;
  seriesLabel: string;
  bucketSeconds: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const hhmm = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      legend: { show: false },
      cursor: { y: false, points: { show: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      axes: [
        {
          stroke: '#6b7280',
          grid: { show: false },
          ticks: { stroke: '#e5e7eb', width: 1 },
          font: '11px system-ui, sans-serif',
          // 24-hour clock in the seller's time zone, whatever the browser's locale.
          values: (_u, splits) => splits.map((s) => hhmm.format(new Date(s * 1000))),
        },
        {
          stroke: '#6b7280',
          grid: { stroke: '#eef0f3', width: 1 },
          ticks: { show: false },
          font: '11px system-ui, sans-serif',
          size: 36,
        },
      ],
      series: [
        {},
        {
          label: seriesLabel,
          stroke: '#2563eb',
          fill: 'rgba(37, 99, 235, 0.55)',
          width: 0,
          paths: uPlot.paths.bars!({ size: [0.8, 14], align: 1 }),
          points: { show: false },
        },
      ],
    };
    const u = new uPlot(opts, [[], []], el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      if (el.clientWidth > 0) u.setSize({ width: el.clientWidth, height: 220 });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [tz, seriesLabel]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    const xs = buckets.map((b) => Math.floor(new Date(b.start).getTime() / 1000));
    const ys = buckets.map((b) => b.orders);
    u.setData([xs, ys]);
  }, [buckets, tz, seriesLabel, bucketSeconds]);

  return <div ref={host} className="chart" data-testid="orders-chart" />;
}
