/**
 * The project rule: reference docs and the published JSON Schema are generated
 * from src/config/schema.ts and src/core/event.ts, and committed. This test
 * fails when a source changed without regenerating them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration } from '../src/config/schema.js';
import { loadConfigText } from '../src/config/load.js';
import {
  DURATION_PATTERN,
  FULL_EXAMPLE,
  MINIMAL_EXAMPLE,
  SCHEMA_ID,
  buildJsonSchema,
  generateDocs,
  repoRoot,
  type JsonSchema,
} from '../scripts/gen-docs.js';

const root = repoRoot();

void test('committed docs and JSON Schema are up to date', () => {
  const stale: string[] = [];
  for (const [rel, content] of Object.entries(generateDocs())) {
    const file = join(root, rel);
    if (!existsSync(file)) stale.push(`${rel} (missing)`);
    else if (readFileSync(file, 'utf8') !== content) stale.push(rel);
  }
  assert.deepEqual(stale, [], `generated files are stale: ${stale.join(', ')}. Run \`npm run docs\` and commit the result.`);
});

void test('generation is deterministic', () => {
  assert.deepEqual(generateDocs(), generateDocs());
});

void test('the example configs in the docs are valid', () => {
  for (const [name, text] of [['minimal', MINIMAL_EXAMPLE], ['full', FULL_EXAMPLE]]) {
    const r = loadConfigText(text, name, {});
    assert.ok(r.ok, `${name} example is invalid: ${r.ok ? '' : JSON.stringify(r.errors)}`);
  }
});

void test('the JSON Schema duration pattern accepts exactly what parseDuration accepts', () => {
  const re = new RegExp(DURATION_PATTERN);
  const samples = ['250ms', '5s', '1m', '2h', '7d', '1.5s', '0', '1500', ' 5s ', '5 s', '5sec', '-1s', '1e3', '.5s', '5.s', 's', '', '5S', '1h30m', '10ms '];
  for (const s of samples) assert.equal(re.test(s), parseDuration(s) !== null, JSON.stringify(s));
});

void test('the JSON Schema is self-contained and every field is described', () => {
  const schema = buildJsonSchema();
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(schema.$id, SCHEMA_ID);
  assert.ok(schema.title);
  // Definitions are inlined, except the recursive rule predicate, which refers to itself inside the document.
  const refs = [...JSON.stringify(schema).matchAll(/"\$ref":"([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(refs)].filter((r) => !['#/$defs/predicate', '#/$defs/predicate_node'].includes(r)), [], 'only the predicate is referenced');
  const problems: string[] = [];
  const walk = (path: string, n: JsonSchema): void => {
    for (const [k, v] of Object.entries(n.properties ?? {})) {
      const p = path ? `${path}.${k}` : k;
      if (!v.description) problems.push(`${p}: no description (add .describe() in src/config/schema.ts)`);
      if (Object.keys(v).filter((x) => x !== 'description' && x !== 'default').length === 0)
        problems.push(`${p}: no type in the JSON Schema (unrepresentable in zod; give it an override in scripts/gen-docs.ts)`);
      walk(p, v);
    }
    if (n.items) walk(`${path}[]`, n.items);
    if (n.additionalProperties && typeof n.additionalProperties === 'object') walk(`${path}.<name>`, n.additionalProperties);
  };
  walk('', schema);
  assert.deepEqual(problems, []);
});
