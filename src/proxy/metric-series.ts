/**
 * Counters and histograms for the per-request metrics, registered in
 * prom-client's registry (so /metrics and the cluster aggregation see them
 * like any other metric) but updated without prom-client's per-call work:
 * even through a cached `labels()` child, prom-client converts, validates and
 * hashes the label set on every observe, which cost about 2 µs per proxied
 * request (two histograms and a counter). Here a label set's series is looked
 * up once; an update is a few field writes. The values are read only when
 * scraped.
 */
import client from 'prom-client';

type Labels = Record<string, string>;

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's Registry reads from a metric: the same shape its own metrics give from get(). */
interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ExportedValue[];
  aggregator: 'sum';
}

function labelsOf(names: readonly string[], values: readonly string[]): Labels {
  if (values.length !== names.length) throw new Error(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`);
  const out: Labels = {};
  names.forEach((n, i) => (out[n] = values[i]));
  return out;
}

abstract class Family<S> {
  readonly aggregator = 'sum' as const;
  protected readonly series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    registry: client.Registry,
  ) {
    registry.registerMetric(this as unknown as client.Metric);
  }

  /** The series of one label set (created at zero on first use). */
  labels(...values: string[]): S {
    const key = values.length === 1 ? values[0] : values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = this.create(labelsOf(this.labelNames, values));
      this.series.set(key, s);
    }
    return s;
  }

  protected abstract create(labels: Labels): S;
  abstract get(): Promise<Exported>;
  /** Forgets every series, as prom-client's reset does (a series held from labels() stops being exported). */
  reset(): void {
    this.series.clear();
  }
}

export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(n = 1): void {
    // A counter only goes up; a non-finite step would poison it for good.
    if (n > 0 && n !== Infinity) this.value += n;
  }
}

export class SeriesCounter extends Family<CounterSeries> {
  readonly type = 'counter' as const;

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }

  get(): Promise<Exported> {
    const values = [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last is above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    if (!Number.isFinite(v)) return; // NaN or ±Infinity would poison the sum for good
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

export class SeriesHistogram extends Family<HistogramSeries> {
  readonly type = 'histogram' as const;

  constructor(name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[], registry: client.Registry) {
    super(name, help, labelNames, registry);
    if (bounds.some((b, i) => i > 0 && b <= bounds[i - 1])) throw new Error(`${name}: bucket bounds must increase`);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  get(): Promise<Exported> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i];
        values.push({ labels: { le, ...s.labels }, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: bucket });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}
