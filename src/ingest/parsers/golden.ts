/**
 * Golden-file tests for parsers: each `testdata/<case>.log` is read line by
 * line and the outcomes are compared with `testdata/<case>.golden.ndjson`,
 * one JSON object per input line:
 *
 *   {"not_an_entry": true}                the line is not an entry (blank, a comment, a header): skipped, not rejected
 *   {"error": "<reason>"}                 rejected, with its stable reason
 *   {"ts": "...", "method": "GET", ...}   the event's non-null fields (without `id`)
 *
 * The examples are the documentation: each parser's README points at them.
 * Regenerate after a deliberate change with UPDATE_GOLDEN=1 and review the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '../../core/event.js';
import type { LogParser, ParseOutcome, ParserFactory } from '../types.js';

/** The source folder of a compiled test file (testdata is not copied to dist/). */
export function sourceDirOf(importMetaUrl: string): string {
  const here = path.dirname(fileURLToPath(importMetaUrl));
  const marker = `${path.sep}dist${path.sep}`;
  const i = here.lastIndexOf(marker);
  return i === -1 ? here : path.join(here.slice(0, i), here.slice(i + marker.length));
}

/** What a golden file records of one outcome. */
export function goldenOf(o: ParseOutcome): Record<string, unknown> {
  if (o.ok === 'skip') return { not_an_entry: true };
  if (o.ok === false) return { error: o.reason };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o.event)) if (k !== 'id' && v !== null) out[k] = v;
  return out;
}

/** Splits a test log into lines exactly as the file input does (LF or CRLF; bytes decoded as UTF-8 with replacement). */
export function readLines(file: string): string[] {
  const text = readFileSync(file).toString('utf8');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Registers one test per `testdata/*.log` case of `dir`, parsed by `make()`. */
export function goldenSuite(name: string, dir: string, make: (caseName: string) => LogParser): void {
  const data = path.join(dir, 'testdata');
  const cases = readdirSync(data).filter((f) => f.endsWith('.log')).sort();
  if (!cases.length) throw new Error(`no golden cases in ${data}`);
  for (const file of cases) {
    const caseName = file.slice(0, -'.log'.length);
    test(`${name} golden: ${caseName}`, () => {
      const parser = make(caseName);
      const lines = readLines(path.join(data, file));
      const got = lines.map((l) => goldenOf(parser.parse(l)));
      const goldenFile = path.join(data, `${caseName}.golden.ndjson`);
      if (process.env.UPDATE_GOLDEN === '1') {
        writeFileSync(goldenFile, got.map((g) => JSON.stringify(g)).join('\n') + '\n');
        return;
      }
      const want = readFileSync(goldenFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(got.length, want.length, `${file}: ${lines.length} lines, ${want.length} golden entries`);
      for (let i = 0; i < got.length; i++) assert.deepEqual(got[i], want[i], `${file} line ${i + 1}: ${lines[i].slice(0, 200)}`);
    });
  }
}

/** Properties every parser must have, whatever the format. */
export function parserConformance(name: string, parser: LogParser, valid: readonly string[]): void {
  test(`${name} conformance: never throws, rejects garbage with a reason, fills the catalog's basics`, () => {
    const garbage = ['', ' ', 'x', '"', '\u0000\u0001', '{', '{"a":', 'a'.repeat(100_000), '- - - - - - - -', '\uFFFD\uFFFD'];
    for (const g of garbage) {
      const o = parser.parse(g);
      if (o.ok === false) {
        assert.match(o.reason, /^[a-z][a-z0-9_]*$/, `reason of ${JSON.stringify(g.slice(0, 20))}`);
        assert.ok(o.detail.length > 0 && o.detail.length <= 300, 'a short detail');
      } else if (o.ok === true) {
        assert.fail(`garbage ${JSON.stringify(g.slice(0, 40))} parsed as an event`);
      }
    }
    for (const line of valid) {
      const o = parser.parse(line);
      assert.equal(o.ok, true, `valid line rejected: ${line.slice(0, 120)} → ${JSON.stringify(o)}`);
      if (o.ok !== true) continue;
      const e = o.event;
      assert.equal(e.source, parser.source);
      assert.ok(!Number.isNaN(Date.parse(e.ts)) && e.ts.endsWith('Z'), `ts is ISO UTC: ${e.ts}`);
      assert.match(e.id, /^[0-9a-f-]{36}$/);
      assert.ok(e.kind === 'http' || e.kind === 'tcp' || e.kind === 'websocket');
    }
  });
}

/**
 * Test helpers for a family with built-in formats `<family>-<name>` and a
 * custom format `<family>` (NGINX log_format, Apache LogFormat): a golden case
 * `<case>.log` is read with the format string in `<case>.format` when there is
 * one, else with format `<family>-<case>`.
 */
export function familyFixtures(dir: string, factories: readonly ParserFactory[], family: string) {
  const testdata = path.join(dir, 'testdata');
  const factory = (format: string): ParserFactory => {
    const f = factories.find((x) => x.format === format);
    if (!f) throw new Error(`no factory ${format}`);
    return f;
  };
  const custom = (logFormat: string): LogParser => factory(family).create({ logFormat });
  return {
    testdata,
    factory,
    custom,
    parserFor(caseName: string): LogParser {
      const formatFile = path.join(testdata, `${caseName}.format`);
      return existsSync(formatFile) ? custom(readFileSync(formatFile, 'utf8')) : factory(`${family}-${caseName}`).create({});
    },
    /** The event of a line that must parse. */
    event(parser: LogParser, line: string): AuditEvent {
      const o = parser.parse(line);
      if (o.ok !== true) assert.fail(`not parsed: ${JSON.stringify(o)}`);
      return o.event;
    },
    /** The first lines of a golden case: typical lines, as `--format auto` would sample them. */
    sample(caseName: string, n = 8): string[] {
      return readLines(path.join(testdata, `${caseName}.log`)).slice(0, n);
    },
  };
}
