/**
 * Deployment markers: a CI/CD pipeline (or a person) says "service S is now
 * at version V" through POST /api/v1/deployments or `tollgate deploy mark`.
 * From that moment the proxies stamp `deployment` = V on every event of S,
 * charts draw the marker, and /compare contrasts equal windows before and
 * after it. Kept by the process that runs the admin API, persisted to a file
 * (a short list: a few markers a day per service), pushed to every proxy as
 * a service → version snapshot.
 */
import { readJsonFile, writeFileAtomic } from '../core/json-file.js';
import { uuidv7 } from '../core/ids.js';
import { readTime } from './http.js';

export type { Deployment } from './deployment-types.js';
import type { Deployment } from './deployment-types.js';

export interface DeploymentInput {
  service: string;
  version: string;
  commit?: string | null;
  environment?: string | null;
  actor?: string | null;
  url?: string | null;
  /** When it took effect; default now. May be in the past (a pipeline reporting late), not in the future. */
  at?: string | null;
  created_by: string;
}

export interface DeploymentQuery {
  service?: string;
  environment?: string;
  from?: string;
  to?: string;
  limit?: number;
}

/** service → the version in force, as the proxies need it. */
export type DeploymentVersions = Record<string, string>;

const MAX_TEXT = 256;
/** Markers kept at most; the oldest go first (the store keeps the events' `deployment` anyway). */
const MAX_KEPT = 10_000;

/** Checks an API body; returns the errors (empty when valid) and the cleaned input. */
export function validateDeployment(body: Record<string, unknown>, createdBy: string, now = Date.now()): { errors: string[]; input: DeploymentInput | null } {
  const errors: string[] = [];
  const text = (k: string, required: boolean): string | null => {
    const v = body[k];
    if (v === undefined || v === null || v === '') {
      if (required) errors.push(`\`${k}\` is required`);
      return null;
    }
    if (typeof v !== 'string' || !v.trim()) {
      errors.push(`\`${k}\` must be a non-empty string`);
      return null;
    }
    if (v.length > MAX_TEXT) errors.push(`\`${k}\` is longer than ${MAX_TEXT} characters`);
    return v.trim();
  };
  const service = text('service', true);
  const version = text('version', true);
  const commit = text('commit', false);
  const environment = text('environment', false);
  const actor = text('actor', false);
  const url = text('url', false);
  if (url !== null && !/^https?:\/\/\S+$/i.test(url)) errors.push('`url` must be an http:// or https:// URL');
  let at: string | null = null;
  if (body.at !== undefined && body.at !== null) {
    const t = readTime('at', body.at);
    if ('error' in t) errors.push(t.error);
    else if (t.ms > now + 60_000) errors.push('`at` is in the future');
    else at = new Date(t.ms).toISOString();
  }
  for (const k of Object.keys(body)) if (!['service', 'version', 'commit', 'environment', 'actor', 'url', 'at'].includes(k)) errors.push(`unknown field \`${k}\``);
  if (errors.length) return { errors, input: null };
  return { errors, input: { service: service!, version: version!, commit, environment, actor, url, at, created_by: createdBy } };
}

export class DeploymentRegistry {
  /** Oldest first (by `at`). */
  private items: Deployment[] = [];
  private listeners = new Set<(v: DeploymentVersions) => void>();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    /** The node's environment: markers for another environment do not stamp this node's events. */
    private readonly environment: string | null,
  ) {}

  /** Reads the persisted markers; a missing file is an empty list, a corrupt one an error. */
  load(): void {
    const data = readJsonFile(this.file) as { deployments?: Deployment[] } | undefined;
    if (data === undefined) return;
    this.items = (data.deployments ?? []).slice().sort(byAt);
  }

  onChange(fn: (v: DeploymentVersions) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The version in force per service for this node's environment. */
  versions(): DeploymentVersions {
    const out: DeploymentVersions = {};
    for (const d of this.items) if (d.environment === null || this.environment === null || d.environment === this.environment) out[d.service] = d.version;
    return out;
  }

  async add(input: DeploymentInput): Promise<Deployment> {
    const d: Deployment = {
      id: uuidv7(),
      service: input.service,
      version: input.version,
      commit: input.commit ?? null,
      environment: input.environment ?? null,
      actor: input.actor ?? null,
      url: input.url ?? null,
      at: input.at ?? new Date().toISOString(),
      created_by: input.created_by,
    };
    this.items.push(d);
    this.items.sort(byAt);
    if (this.items.length > MAX_KEPT) this.items.splice(0, this.items.length - MAX_KEPT);
    await this.commit();
    return d;
  }

  get(id: string): Deployment | null {
    return this.items.find((d) => d.id === id) ?? null;
  }

  /** The marker of the same service (and environment) just before `d`, if any. */
  previous(d: Deployment): Deployment | null {
    let prev: Deployment | null = null;
    for (const x of this.items) {
      if (x.id === d.id) break;
      if (x.service === d.service && x.environment === d.environment) prev = x;
    }
    return prev;
  }

  /** Newest first. */
  list(q: DeploymentQuery = {}): Deployment[] {
    const from = q.from ? Date.parse(q.from) : -Infinity;
    const to = q.to ? Date.parse(q.to) : Infinity;
    const out: Deployment[] = [];
    for (let i = this.items.length - 1; i >= 0 && out.length < (q.limit ?? 100); i--) {
      const d = this.items[i];
      const t = Date.parse(d.at);
      if (t < from || t >= to) continue;
      if (q.service && d.service !== q.service) continue;
      if (q.environment && d.environment !== q.environment) continue;
      out.push(d);
    }
    return out;
  }

  private async commit(): Promise<void> {
    const snapshot = JSON.stringify({ deployments: this.items }, null, 1) + '\n';
    const write = this.writing.then(() => writeFileAtomic(this.file, snapshot, 0o644));
    this.writing = write.catch(() => {});
    await write;
    const v = this.versions();
    for (const fn of this.listeners) fn(v);
  }
}

function byAt(a: Deployment, b: Deployment): number {
  return a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1;
}
