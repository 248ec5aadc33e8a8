/**
 * Hand-written SVG charts. Colours come from CSS classes (no inline styles: the page's policy
 * forbids them); each chart is an image named by its title whose description lists every
 * value, and the donut also has a visible legend with numbers, so nothing is colour-only.
 */

import { useId } from 'react';

export interface Datum {
  label: string;
  value: number;
  /** Colour slot (0-7); defaults to the position. */
  tone?: number;
}

function describe(data: readonly Datum[], format: (n: number) => string): string {
  return data.length ? data.map((d) => `${d.label}: ${format(d.value)}`).join('; ') : 'No data.';
}

function shorten(label: string, max: number): string {
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}

/** A chart with nothing to draw: its title and a short note instead of an empty image. */
function EmptyChart({ title, text }: { title: string; text: string }) {
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <p className="muted">{text}</p>
    </figure>
  );
}

interface ChartProps {
  title: string;
  data: readonly Datum[];
  format?: (n: number) => string;
  emptyText?: string;
}

/** Horizontal bars, one per datum, longest = largest value. */
export function BarChart({ title, data, format = (n) => n.toLocaleString(), emptyText = 'Nothing to show yet.' }: ChartProps) {
  const id = useId();
  if (data.length === 0) {
    return <EmptyChart title={title} text={emptyText} />;
  }
  const row = 28;
  const labelWidth = 175;
  const barMax = 210;
  const height = data.length * row + 8;
  const max = Math.max(1, ...data.map((d) => d.value));
  return (
    <figure className="chart">
      <figcaption id={`${id}-t`}>{title}</figcaption>
      <svg
        viewBox={`0 0 460 ${height}`}
        width={460}
        height={height}
        role="img"
        aria-labelledby={`${id}-t ${id}-d`}
        className="bar-chart"
        preserveAspectRatio="xMinYMin meet"
      >
        <desc id={`${id}-d`}>{describe(data, format)}</desc>
        {data.map((d, i) => {
          const y = i * row + 4;
          const width = d.value > 0 ? Math.max(2, (d.value / max) * barMax) : 0;
          return (
            <g key={`${d.label}-${i}`}>
              <text x={labelWidth - 8} y={y + 15} textAnchor="end" className="chart-label">
                {shorten(d.label, 24)}
              </text>
              <rect x={labelWidth} y={y + 2} width={barMax} height={row - 10} rx={3} className="bar-track" />
              <rect x={labelWidth} y={y + 2} width={width} height={row - 10} rx={3} className={`tone-${(d.tone ?? i) % 8}`} />
              <text x={labelWidth + barMax + 8} y={y + 15} className="chart-value">
                {format(d.value)}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

/** Share of a whole, with a legend giving each part's count and percentage. */
export function DonutChart({ title, data, format = (n) => n.toLocaleString(), emptyText = 'Nothing to show yet.' }: ChartProps) {
  const id = useId();
  const total = data.reduce((sum, d) => sum + Math.max(0, d.value), 0);
  if (total === 0) {
    return <EmptyChart title={title} text={emptyText} />;
  }
  const radius = 40;
  const circumference = 2 * Math.PI * radius;
  let offset = 0;
  const percent = (v: number) => `${Math.round((v / total) * 100)}%`;
  return (
    <figure className="chart donut">
      <figcaption id={`${id}-t`}>{title}</figcaption>
      <div className="donut-body">
        <svg viewBox="0 0 100 100" role="img" aria-labelledby={`${id}-t ${id}-d`} className="donut-chart">
          <desc id={`${id}-d`}>{`Total ${format(total)}. ${data.map((d) => `${d.label}: ${format(d.value)} (${percent(d.value)})`).join('; ')}`}</desc>
          <circle cx={50} cy={50} r={radius} className="donut-track" fill="none" strokeWidth={14} />
          {data.map((d, i) => {
            const length = (Math.max(0, d.value) / total) * circumference;
            const segment = (
              <circle
                key={`${d.label}-${i}`}
                cx={50}
                cy={50}
                r={radius}
                fill="none"
                strokeWidth={14}
                className={`tone-${(d.tone ?? i) % 8}`}
                strokeDasharray={`${length} ${circumference - length}`}
                strokeDashoffset={-offset}
                transform="rotate(-90 50 50)"
              />
            );
            offset += length;
            return segment;
          })}
          <text x={50} y={54} textAnchor="middle" className="donut-total">
            {format(total)}
          </text>
        </svg>
        <ul className="legend">
          {data.map((d, i) => (
            <li key={`${d.label}-${i}`}>
              <svg viewBox="0 0 10 10" className="swatch" aria-hidden="true" focusable="false">
                <rect width={10} height={10} rx={2} className={`tone-${(d.tone ?? i) % 8}`} />
              </svg>
              <span>{d.label}</span>
              <span className="legend-value">
                {format(d.value)} ({percent(d.value)})
              </span>
            </li>
          ))}
        </ul>
      </div>
    </figure>
  );
}
