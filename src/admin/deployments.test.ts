import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeploymentRegistry, validateDeployment } from './deployments.js';
import { ciDefaults } from '../cli/deploy.js';

test('markers persist, sort by time, and give the version in force per service for this environment', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-dep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'deployments.json');
  const r = new DeploymentRegistry(file, 'production');
  r.load();
  const seen: Record<string, string>[] = [];
  r.onChange((v) => seen.push(v));
  const a = await r.add({ service: 'api', version: 'v1', at: '2026-11-01T10:00:00.000Z', created_by: 't' });
  const b = await r.add({ service: 'api', version: 'v2', environment: 'production', created_by: 't' });
  await r.add({ service: 'api', version: 'v3-staging', environment: 'staging', created_by: 't' });
  const c = await r.add({ service: 'web', version: '2026.11.24', commit: 'abc', created_by: 't' });
  assert.deepEqual(r.versions(), { api: 'v2', web: '2026.11.24' }, 'the staging marker does not apply to a production node');
  assert.deepEqual(seen.at(-1), r.versions(), 'listeners get every change');
  assert.equal(r.previous(b), null, 'the v1 marker has no environment: a different stream');
  const again = new DeploymentRegistry(file, 'production');
  again.load();
  assert.deepEqual(again.versions(), r.versions());
  assert.deepEqual(again.list({ service: 'api' }).map((d) => d.version), ['v3-staging', 'v2', 'v1'], 'newest first');
  assert.deepEqual(again.list({ to: '2026-11-02T00:00:00Z' }).map((d) => d.id), [a.id]);
  assert.equal(again.get(c.id)?.commit, 'abc');
  const v4 = await again.add({ service: 'api', version: 'v4', environment: 'production', created_by: 't' });
  assert.equal(again.previous(v4)?.version, 'v2');
  writeFileSync(file, '{not json');
  assert.throws(() => new DeploymentRegistry(file, null).load(), 'a corrupt file is an error, not an empty list');
});

test('the API body is checked field by field', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  assert.deepEqual(validateDeployment({ service: 'api', version: 'v1' }, 'tok', now).errors, []);
  const bad = validateDeployment({ version: '', url: 'ftp://x', at: '2027-01-01T00:00:00Z', extra: 1, commit: 5 }, 'tok', now).errors.join('\n');
  for (const want of ['`service` is required', '`version` is required', '`url` must be', '`at` is in the future', 'unknown field `extra`', '`commit` must be a non-empty string']) assert.ok(bad.includes(want), `${want} in ${bad}`);
  assert.equal(validateDeployment({ service: 'api', version: 'v1', at: '2026-11-24T11:00:00Z' }, 'tok', now).input?.at, '2026-11-24T11:00:00.000Z');
});

test('deploy mark takes commit, actor and run URL from GitHub Actions, GitLab CI or Jenkins', () => {
  assert.deepEqual(ciDefaults({ GITHUB_SHA: 'abc', GITHUB_ACTOR: 'octo', GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'o/r', GITHUB_RUN_ID: '42' }), { commit: 'abc', actor: 'octo', url: 'https://github.com/o/r/actions/runs/42' });
  assert.deepEqual(ciDefaults({ CI_COMMIT_SHA: 'def', GITLAB_USER_LOGIN: 'gl', CI_PIPELINE_URL: 'https://gitlab.example/p/1' }), { commit: 'def', actor: 'gl', url: 'https://gitlab.example/p/1' });
  assert.deepEqual(ciDefaults({ GIT_COMMIT: '123', BUILD_USER_ID: 'jk', BUILD_URL: 'https://ci.example/job/9/' }), { commit: '123', actor: 'jk', url: 'https://ci.example/job/9/' });
});
