/**
 * Time charts with uPlot (small, fast, canvas), with deployment markers:
 * a dashed vertical line and the version at the marker's time on every chart.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Deployment } from './types';

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
  /** Fill the area under the line (stacked series pass cumulative values). */
  fill?: boolean;
}

export interface ChartProps {
  id: string;
  /** Bucket starts, epoch seconds. */
  xs: number[];
  series: Series[];
  deployments: Deployment[];
  /** The time range shown, epoch seconds (the data may not reach its ends). */
  range: [number, number];
  height?: number;
  yLabel?: (v: number) => string;
}

function markerPlugin(deployments: Deployment[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        const { top, height, left, width } = u.bbox;
        ctx.save();
        for (const d of deployments) {
          const x = u.valToPos(Date.parse(d.at) / 1000, 'x', true);
          if (x < left || x > left + width) continue;
          ctx.strokeStyle = '#7c3aed';
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = '#7c3aed';
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          const label = `${d.service} ${d.version}`;
          const w = ctx.measureText(label).width;
          // Near the right edge the label goes on the line's left.
          const tx = x + 4 * devicePixelRatio + w > left + width ? x - 4 * devicePixelRatio - w : x + 4 * devicePixelRatio;
          ctx.fillText(label, tx, top + 12 * devicePixelRatio);
        }
        ctx.restore();
      },
    },
  };
}

export function TimeChart({ id, xs, series, deployments, range, height = 200, yLabel }: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    const opts: uPlot.Options = {
      width: Math.max(300, node.clientWidth),
      height,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: () => range } },
      axes: [{ stroke: '#667085', grid: { stroke: '#eef0f4' } }, { stroke: '#667085', grid: { stroke: '#eef0f4' }, size: 76, values: yLabel ? (_u, vals) => vals.map((v) => yLabel(v)) : undefined }],
      // Points too: a series with data in a single bucket would otherwise draw nothing.
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: s.fill ? s.color + '55' : undefined, points: { show: true, size: 4 }, spanGaps: false }))],
      plugins: [markerPlugin(deployments)],
    };
    const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
    const plot = new uPlot(opts, data, node);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, node.clientWidth), height }));
    resize.observe(node);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [xs, series, deployments, height, yLabel, range[0], range[1]]);
  const visible = deployments.filter((d) => Date.parse(d.at) / 1000 >= range[0] && Date.parse(d.at) / 1000 <= range[1]).length;
  return (
    <div class="chart" data-testid={`chart-${id}`} data-markers={visible}>
      <div ref={el} />
    </div>
  );
}
