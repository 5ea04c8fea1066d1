/**
 * `tollgate ingest`: other load balancers' logs into the audit trail. Reads
 * the store and spool locations from the configuration (-c), writes straight
 * into the store when no node holds it, else into the running node's spool.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { ALL_FACTORIES } from '../ingest/parsers/index.js';
import { openRegistry } from '../ingest/registry.js';
import { runIngest, IngestError, type InputSpec, type IngestSummary } from '../ingest/run.js';
import type { EventSink } from '../ingest/sinks.js';
import { formatConfigErrors } from './config-errors.js';
import { createRedactor } from '../audit/redact.js';
import { isTimeZone } from '../core/time-zone.js';
import { keepFilesPrivate } from '../core/private-files.js';
import { ProgressBar, formatDuration } from './progress.js';

interface IngestOpts {
  config?: string;
  format: string;
  logFormat?: string;
  reread?: boolean;
  follow?: boolean;
  syslogUdp?: string;
  syslogTcp?: string;
  s3Region?: string;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
  stdout?: boolean;
  quiet?: boolean;
  json?: boolean;
  registry?: string;
  node?: string;
  environment?: string;
  timezone?: string;
}

function formatsHelp(): string {
  return ALL_FACTORIES.map((f) => `  ${f.format.padEnd(16)} ${f.description}${f.needsLogFormat ? ' (needs --log-format)' : ''}`).join('\n');
}

function inputSpec(inputs: string[], o: IngestOpts): InputSpec {
  const spec = inputKind(inputs, o);
  if (o.reread && spec.kind !== 'paths') throw new IngestError('--reread reads files again; it does not apply to --follow, stdin, syslog or S3 inputs');
  return spec;
}

function inputKind(inputs: string[], o: IngestOpts): InputSpec {
  if (o.syslogUdp || o.syslogTcp) {
    if (inputs.length) throw new IngestError('give either files or --syslog-udp/--syslog-tcp, not both');
    return { kind: 'syslog', udp: o.syslogUdp, tcp: o.syslogTcp, onListening: (p) => (o.quiet ? undefined : process.stderr.write(`syslog receiver listening:${p.udp ? ` udp ${p.udp}` : ''}${p.tcp ? ` tcp ${p.tcp}` : ''}\n`)) };
  }
  if (inputs.length === 1 && inputs[0].startsWith('s3://')) {
    const rest = inputs[0].slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    if (!bucket) throw new IngestError('s3:// needs a bucket: s3://bucket/prefix/');
    return { kind: 's3', bucket, prefix: slash === -1 ? '' : rest.slice(slash + 1), region: o.s3Region ?? process.env.AWS_REGION ?? 'us-east-1', endpoint: o.s3Endpoint, forcePathStyle: o.s3PathStyle ?? Boolean(o.s3Endpoint) };
  }
  if (!inputs.length || (inputs.length === 1 && inputs[0] === '-')) {
    if (o.follow) throw new IngestError('--follow needs files');
    return { kind: 'stdin' };
  }
  if (inputs.includes('-')) throw new IngestError('"-" (stdin) cannot be mixed with files');
  return o.follow ? { kind: 'follow', args: inputs } : { kind: 'paths', args: inputs };
}

function printSummary(s: IngestSummary, out: NodeJS.WritableStream, remembered: boolean): void {
  const lines = [
    `format      ${s.format === 'auto' ? 'not determined (nothing new to read)' : `${s.format}${s.formatDetected ? ' (detected)' : ''}`}`,
    `into        ${s.sink}`,
    `inputs      ${s.inputs}${s.alreadyRead ? ` (+${s.alreadyRead} already read, skipped; --reread reads them again)` : ''}`,
    `lines read  ${s.linesRead}${s.parsedInStore ? ` (${s.parsedInStore} parsed by the store itself)` : ''}`,
    `events      ${s.events}`,
    `skipped     ${s.skipped} (blank or not entries)`,
    `rejected    ${s.rejected}${s.rejected ? ` (${Object.entries(s.rejectedByReason).map(([r, n]) => `${r}: ${n}`).join(', ')})` : ''}`,
    `time        ${formatDuration(s.elapsedMs)} (${s.elapsedMs} ms), ${s.linesPerSecond} lines/s`,
  ];
  if (s.inputErrors.length) {
    lines.push('', `inputs not read (${s.inputErrors.length}):`);
    for (const x of s.inputErrors) lines.push(`  ${x.origin}: ${x.error}`);
  }
  if (s.samples.length) {
    lines.push('', `rejected lines (first ${s.samples.length}):`);
    for (const x of s.samples) lines.push(`  ${x.origin}:${x.line}: ${x.reason}: ${x.detail}`);
  }
  if (s.events === 0 && s.rejected > 0 && s.inputs > 0) {
    lines.push('', remembered ? 'nothing was stored: every line was rejected. The files count as read; once --format (or --log-format) is right, run again with --reread.' : 'no event: every line was rejected; check --format (or --log-format).');
  }
  out.write(lines.join('\n') + '\n');
}

async function openSink(o: IngestOpts, config: Readonly<Config>): Promise<EventSink> {
  // The store's modules (DuckDB) load only for an ingest that needs them.
  const { DuckDbSink, SpoolSink, StdoutSink, StoreBusyError, isIngestWriter } = await import('../ingest/sinks.js');
  if (o.stdout) return new StdoutSink();
  try {
    return await DuckDbSink.open(config.store.path);
  } catch (err) {
    if (!(err instanceof StoreBusyError)) throw err;
    // A node is running: go through its spool; its loader stores the events. Only then: another
    // holder of the store (an analyst's duckdb, a second ingest) loads nothing from the spool.
    const { liveSpoolWriters } = await import('../audit/spool/writer.js');
    const node = (await liveSpoolWriters(config.audit.spool.dir)).filter((w) => !isIngestWriter(w.writer));
    if (!node.length) {
      throw new Error(`${err.message}. No Tollgate node writes to the spool ${config.audit.spool.dir}, so nothing would load the events from it: close the other program (or wait for the other ingest) and run again.`);
    }
    return SpoolSink.open(config.audit.spool);
  }
}

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('Read access logs of other load balancers (AWS ALB/ELB/NLB, NGINX, HAProxy, Apache, Caddy, Traefik, Envoy) into the audit trail.')
    .argument('[inputs...]', 'files, directories, globs, .gz files, "-" for stdin, or s3://bucket/prefix')
    .option('-c, --config <file>', 'Tollgate configuration: where the store and spool are (default: the built-in defaults, ./data/…)')
    .option('-f, --format <format>', 'log format, or "auto" to detect it from the first lines', 'auto')
    .option('--log-format <string>', 'the custom format string for nginx / haproxy / apache (as in their config)')
    .option('--follow', 'keep reading the files as they grow, across rotation (rename and copytruncate)')
    .option('--syslog-udp <addr>', 'receive syslog over UDP on host:port (RFC 3164 and 5424)')
    .option('--syslog-tcp <addr>', 'receive syslog over TCP on host:port (octet counting or newline framing)')
    .option('--s3-region <region>', 'AWS region for s3:// inputs (default $AWS_REGION or us-east-1)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint for s3:// inputs (implies path-style addressing)')
    .option('--stdout', 'print the events as NDJSON to standard output and store nothing')
    .option('--reread', 'read the files from their start even if they were read before (after a wrong --format rejected their lines); their events are stored again')
    .option('--registry <file>', 'where positions read are remembered (default: next to the store, <store>.ingest.json)')
    .option('--node <name>', 'recorded as `node` when the log does not name its load balancer')
    .option('--environment <env>', 'recorded as `environment`')
    .option('--timezone <zone>', 'IANA time zone of times the log writes without an offset (HAProxy\'s default dates, Apache %{...}t without %z, Caddy wall), e.g. Europe/Berlin; default UTC')
    .option('-q, --quiet', 'no progress bar and no summary (errors only)')
    .option('--json', 'print the summary as JSON (on stderr with --stdout)')
    .addHelpText('after', `\nFormats:\n${formatsHelp()}\n\nExamples:\n  tollgate ingest -c tollgate.yaml /var/log/nginx/access.log*\n  tollgate ingest --format alb s3://my-logs/AWSLogs/123456789012/elasticloadbalancing/\n  tollgate ingest --format nginx --log-format '$remote_addr [$time_local] "$request" $status' --follow /var/log/nginx/custom.log\n  tollgate ingest --syslog-udp 127.0.0.1:5514 --format haproxy-http\n  zcat old.log.gz | tollgate ingest --stdout - | jq .status`)
    .action(async (inputs: string[], o: IngestOpts) => {
      const [{ loadConfigFile }, { ConfigSchema }] = await Promise.all([import('../config/load.js'), import('../config/schema.js')]);
      let config: Readonly<Config>;
      if (o.config) {
        const r = loadConfigFile(o.config);
        if (!r.ok) throw new Error(formatConfigErrors(o.config, r.errors));
        config = r.config;
      } else {
        config = ConfigSchema.parse({ listeners: [{ address: '127.0.0.1:0' }] });
      }
      if (o.timezone !== undefined && !isTimeZone(o.timezone)) throw new Error(`--timezone: unknown time zone ${JSON.stringify(o.timezone)} (an IANA name such as Europe/Berlin, America/New_York or UTC)`);
      // A store or registry this run creates is as private as a node's.
      keepFilesPrivate();
      const input = inputSpec(inputs, o);
      const sink = await openSink(o, config);
      const registry = o.stdout ? null : await openRegistry(o.registry ?? `${path.resolve(config.store.path)}.ingest.json`);
      const abort = new AbortController();
      const stop = () => {
        if (abort.signal.aborted) process.exit(130);
        abort.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      // `tollgate ingest --stdout … | head`: the reader went away; stop quietly, like other Unix tools.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      const bar = new ProgressBar(process.stderr, !o.quiet && !o.json && process.stderr.isTTY === true);
      let summary: IngestSummary;
      try {
        summary = await runIngest({
          format: o.format,
          reread: o.reread === true,
          // Headers named in audit.redact.headers are redacted in ingested events too, as in live traffic.
          parserOptions: { logFormat: o.logFormat, node: o.node, environment: o.environment, timezone: o.timezone, redactHeaders: config.audit.redact.headers },
          factories: ALL_FACTORIES,
          input,
          sink,
          registry,
          signal: abort.signal,
          redactQuery: createRedactor({ ...config.audit.redact, record_headers: config.audit.record_headers }).query,
          onProgress: (p) => bar.update(p),
          onFormat: (format, detected, _scores, input) => {
            if (detected && !o.quiet && !o.json) process.stderr.write(`format: ${format}${input ? ` for ${input}` : ''} (detected from the first lines; use --format to choose)\n`);
          },
        });
      } finally {
        bar.done();
        await sink.close();
      }
      const out = o.stdout ? process.stderr : process.stdout;
      if (o.json) out.write(JSON.stringify(summary) + '\n');
      else if (!o.quiet) printSummary(summary, out, registry !== null);
      // Some inputs could not be read: the others are stored, and a script learns it from the exit status.
      if (summary.inputErrors.length) {
        if (o.quiet) for (const x of summary.inputErrors) process.stderr.write(`tollgate: ${x.origin}: ${x.error}\n`);
        process.exitCode = 1;
      }
    });
}
