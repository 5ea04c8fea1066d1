/**
 * Memory-bounded sliding-window primitives for the detection rule engine.
 * Pure data structures: no I/O, no clock; every time is event time passed in.
 */
export { CountWindow, bucketGeometry, type BucketGeometry } from './bucket-ring.js';
export { DistinctWindow } from './distinct.js';
export {
  LatencyWindow,
  LATENCY_BINS,
  LATENCY_MAX_MS,
  LATENCY_MIN_MS,
  LATENCY_RELATIVE_ERROR,
  latencyBin,
  latencyBinValue,
} from './latency.js';
export { HourOfWeekBaseline, type BaselineExpectation, type BaselineJSON, type BaselineOptions } from './baseline.js';
