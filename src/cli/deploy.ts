/**
 * `tollgate deploy mark`: records a deployment marker through the admin API,
 * for CI/CD pipelines — from then on the service's events carry the version.
 * Commit, actor and pipeline URL default to what GitHub Actions, GitLab CI or
 * Jenkins put in the environment. `tollgate deploy list` shows the markers.
 */
import type { Command } from 'commander';
import { addConnectionOptions, adminConnection, adminFetch, errorText } from './admin-client.js';
import type { Deployment } from '../admin/deployments.js';

interface Conn {
  admin?: string;
  config?: string;
  tokenFile?: string;
}

interface MarkOpts extends Conn {
  service: string;
  version: string;
  commit?: string;
  environment?: string;
  actor?: string;
  url?: string;
  at?: string;
  json?: boolean;
}

/** What the common CI systems say about the run, for the fields not given as options. */
export function ciDefaults(env: NodeJS.ProcessEnv): { commit?: string; actor?: string; url?: string } {
  const github = env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
  return {
    commit: env.GITHUB_SHA ?? env.CI_COMMIT_SHA ?? env.GIT_COMMIT,
    actor: env.GITHUB_ACTOR ?? env.GITLAB_USER_LOGIN ?? env.BUILD_USER_ID ?? env.USER,
    url: github ?? env.CI_PIPELINE_URL ?? env.BUILD_URL,
  };
}

export function registerDeploy(program: Command): void {
  const deploy = program.command('deploy').description('Deployment markers: tie changes in behaviour to the deployment that caused them.');
  const mark = deploy
    .command('mark')
    .description('Record that a service was deployed at a version; its events carry that version from now on.')
    .requiredOption('--service <name>', 'the service (a route\'s `service`, by default its backend pool)')
    .requiredOption('--version <version>', 'the version deployed, e.g. v1.4.2 or a build number')
    .option('--commit <sha>', 'the commit deployed (default: $GITHUB_SHA, $CI_COMMIT_SHA or $GIT_COMMIT)')
    .option('--environment <env>', 'the environment, e.g. production (markers for another environment do not tag a node\'s events)')
    .option('--actor <who>', 'who deployed (default: $GITHUB_ACTOR, $GITLAB_USER_LOGIN, $BUILD_USER_ID or $USER)')
    .option('--url <url>', 'a link to the pipeline or release (default: the GitHub Actions run, $CI_PIPELINE_URL or $BUILD_URL)')
    .option('--at <time>', 'when it took effect, if not now (ISO 8601)')
    .option('--json', 'print the recorded marker as JSON');
  addConnectionOptions(mark, 'an admin token with the operator role').action(async (opts: MarkOpts) => {
    const { base, headers } = await adminConnection(opts);
    const d = ciDefaults(process.env);
    const body = {
      service: opts.service,
      version: opts.version,
      commit: opts.commit ?? d.commit,
      environment: opts.environment,
      actor: opts.actor ?? d.actor,
      url: opts.url ?? d.url,
      at: opts.at,
    };
    const res = await adminFetch(`${base}/api/v1/deployments`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`recording the deployment failed (${res.status}): ${await errorText(res)}`);
    const m = (await res.json()) as Deployment;
    if (opts.json) process.stdout.write(JSON.stringify(m, null, 2) + '\n');
    else process.stdout.write(`recorded deployment ${m.id}: ${m.service} ${m.version}${m.commit ? ` (${m.commit.slice(0, 12)})` : ''}${m.environment ? ` in ${m.environment}` : ''} at ${m.at}\ncompare: ${base}/api/v1/deployments/${m.id}/compare\n`);
  });
  const list = deploy.command('list').description('Deployment markers, newest first.').option('--service <name>', 'only this service').option('-n, --limit <n>', 'most markers', '20').option('--json', 'JSON');
  addConnectionOptions(list).action(async (opts: Conn & { service?: string; limit: string; json?: boolean }) => {
    const { base, headers } = await adminConnection(opts);
    const p = new URLSearchParams({ limit: opts.limit });
    if (opts.service) p.set('service', opts.service);
    const res = await adminFetch(`${base}/api/v1/deployments?${p.toString()}`, { headers });
    if (!res.ok) throw new Error(`listing deployments failed (${res.status}): ${await errorText(res)}`);
    const body = (await res.json()) as { deployments: Deployment[] };
    if (opts.json) {
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
      return;
    }
    if (!body.deployments.length) {
      process.stderr.write('no deployment markers yet (record one with: tollgate deploy mark --service S --version V)\n');
      return;
    }
    for (const m of body.deployments) process.stdout.write(`${m.at}  ${m.service.padEnd(16)} ${m.version.padEnd(14)} ${(m.commit ?? '').slice(0, 12).padEnd(12)} ${(m.environment ?? '').padEnd(12)} ${m.actor ?? ''}  ${m.id}\n`);
  });
}
