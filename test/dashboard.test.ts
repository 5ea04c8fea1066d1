/**
 * The dashboard in a real (headless) Chromium against a running Tollgate with
 * seeded traffic: sign in with the admin token (never in a URL), each page
 * shows the seeded numbers, filters change the results and the URL, the live
 * tail shows a request sent during the test, a deployment marker is drawn on
 * the overview's charts, an alert can be acknowledged, a block added and
 * lifted, and the browser console stays free of errors. Screenshots of every
 * page are saved under test-artifacts/dashboard/.
 */
import { test, before, after } from 'node:test';
import { readFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { startBackend, startTollgate, merge, get, adminFetch, waitFor, TEST_ADMIN_TOKEN, type Backend, type TestNode, type ConfigObject } from './helpers.js';
import { browserAvailable, NEEDS_CHROMIUM, startBrowser, type TestBrowser } from './support/browser.js';
import { skipUnlessCI } from './support/skip.js';

// Skipped only without Chromium and outside CI; under CI=true the tests run and fail loudly when it is missing.
const skip = skipUnlessCI(browserAvailable(), NEEDS_CHROMIUM);

let backend: Backend;
let tg: TestNode;
let b: TestBrowser;

const NORMAL = '203.0.113.10';
const PROBER = '198.51.100.7';

before(async () => {
  if (skip) return;
  backend = await startBackend((req, res) => {
    if (req.url?.startsWith('/fail')) res.writeHead(500).end('boom');
    else if (req.url?.startsWith('/missing')) res.writeHead(404).end('no');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  tg = await startTollgate({ app: [backend.address] }, (c: ConfigObject) =>
    merge(c, {
      proxy: { trusted_proxies: ['127.0.0.1/32'] },
      detect: { poll_interval: '20ms', builtin: { rules: { 'endpoint-probing': { condition: { threshold: 5 } } } } },
    }),
  );
  const from = (ip: string, path: string) => get(`${tg.proxy}${path}`, { headers: { 'x-forwarded-for': ip } });
  // Failures interleaved with successes, so passive outlier ejection (consecutive failures) does not take the backend out.
  for (let i = 0; i < 20; i++) {
    await from(NORMAL, `/shop/item-${i % 4}`);
    if (i % 4 === 3) await from(PROBER, `/fail/${i}`);
  }
  for (let i = 0; i < 5; i++) await from(PROBER, `/missing/${i}`);
  const dep = await adminFetch(`${tg.admin}/api/v1/deployments`, { method: 'POST', body: JSON.stringify({ service: 'app', version: 'v7.1.0', commit: 'c0ffee', environment: 'test' }) });
  assert.equal(dep.status, 201);
  for (let i = 0; i < 4; i++) await from(NORMAL, `/after-deploy/${i}`);
  await tg.flush();
  await waitFor(async () => ((await (await adminFetch(`${tg.admin}/api/v1/alerts`)).json()) as { alerts: unknown[] }).alerts.length > 0, 'the probing alert');
  b = await startBrowser('dashboard');
});

after(async () => {
  await b?.close();
  await tg?.stop();
  await backend?.close();
});

const SEEDED = 34; // 20 + 5 + 5 + 4 requests through the proxy

test('the dashboard, page by page, in Chromium', { skip, timeout: 120_000 }, async () => {
  const { page } = b;
  const urls: string[] = [];
  page.on('framenavigated', (f) => urls.push(f.url()));

  // Sign in: no request is made without a token; the token goes in a header only.
  await page.goto(`${tg.admin}/`);
  await page.getByTestId('signin-token').fill(TEST_ADMIN_TOKEN);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('stat-requests').waitFor();

  // Overview: the seeded numbers, the top client, a deployment marker on the charts.
  await waitFor(async () => (await page.getByTestId('stat-requests').locator('.stat-value').textContent()) === String(SEEDED), `the overview to count ${SEEDED} requests`, 15_000, 200);
  assert.equal(await page.getByTestId('stat-error-rate').locator('.stat-value').textContent(), `${((5 / SEEDED) * 100).toFixed(1)} %`);
  assert.match((await page.getByTestId('top-client_ip').textContent()) ?? '', new RegExp(`${NORMAL.replace(/\./g, '\\.')}24`));
  for (const chart of ['traffic', 'latency', 'refused']) assert.equal(await page.getByTestId(`chart-${chart}`).getAttribute('data-markers'), '1', `a marker on the ${chart} chart`);
  assert.match((await page.getByTestId('card-deployments').textContent()) ?? '', /app v7\.1\.0/);
  await b.screenshot('overview');
  await page.getByTestId('range-15m').click();
  await waitFor(() => page.url().includes('range=15m'), 'the range in the URL');
  await waitFor(async () => (await page.getByTestId('stat-rps').locator('.stat-value').textContent()) === (SEEDED / 900).toFixed(2), 'requests/s over 15 min');

  // Search: filters in the URL, results change with them; export buttons are there.
  await page.goto(`${tg.admin}/#/search?client_ip=${PROBER}`);
  await waitFor(async () => (await page.getByTestId('search-results').locator('tbody tr').count()) === 10, 'ten events of the prober');
  await page.getByTestId('filter-status').fill('5xx');
  await page.getByTestId('search-submit').click();
  await waitFor(async () => page.url().includes('status=5xx') && (await page.getByTestId('search-results').locator('tbody tr').count()) === 5, 'five 5xx events after filtering');
  await b.screenshot('search');
  // Export what the filters select (fetched with the token in a header, saved as a file).
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  assert.equal(csv.suggestedFilename(), 'tollgate-events.csv');
  const lines = (await readFile((await csv.path()), 'utf8')).trim().split('\n');
  assert.equal(lines.length, 6, 'a header and the five 5xx events');
  assert.match(lines[0], /^id,ts,/);
  assert.ok(lines.slice(1).every((l) => l.includes(PROBER) && l.includes(',500,')));

  // Event detail: every field, and links to the same client's requests.
  await page.getByTestId('search-results').locator('tbody tr').first().locator('a').click();
  await page.getByTestId('event-fields').waitFor();
  assert.equal(await page.locator('[data-field=client_ip]').textContent(), PROBER);
  assert.equal(await page.locator('[data-field=status]').textContent(), '500');
  assert.equal(await page.locator('[data-field=deployment]').textContent(), 'null', 'before the marker');
  assert.ok(await page.getByTestId('same-client').isVisible());
  assert.ok(await page.getByTestId('same-request').isVisible());
  await b.screenshot('event');

  // Live tail: a request sent now shows up.
  await page.goto(`${tg.admin}/#/live`);
  await waitFor(async () => ((await page.getByTestId('card-live').locator('h2').textContent()) ?? '').includes('(connected)'), 'the live stream');
  const marker = `/live-check-${Date.now()}`;
  await get(`${tg.proxy}${marker}`, { headers: { 'x-forwarded-for': NORMAL } });
  await waitFor(async () => ((await page.getByTestId('card-live').textContent()) ?? '').includes(marker), 'the new request in the live tail', 15_000, 200);
  // A filter narrows the stream: another client's request does not show, the prober's does.
  await page.goto(`${tg.admin}/#/live?client_ip=${PROBER}`);
  await waitFor(async () => ((await page.getByTestId('card-live').locator('h2').textContent()) ?? '').includes('(connected)'), 'the filtered stream');
  await get(`${tg.proxy}/live-other`, { headers: { 'x-forwarded-for': NORMAL } });
  await get(`${tg.proxy}/live-prober`, { headers: { 'x-forwarded-for': PROBER } });
  await waitFor(async () => ((await page.getByTestId('card-live').textContent()) ?? '').includes('/live-prober'), 'the prober\'s request in the filtered tail', 15_000, 200);
  assert.ok(!((await page.getByTestId('card-live').textContent()) ?? '').includes('/live-other'));
  await page.getByTestId('live-pause').click();
  await waitFor(async () => (await page.getByTestId('live-pause').textContent())?.startsWith('Resume'), 'paused');
  await b.screenshot('live');

  // Alerts: the probing alert; acknowledge it.
  await page.goto(`${tg.admin}/#/alerts`);
  const alert = page.locator('[data-testid=alert][data-rule=endpoint-probing]');
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? '', new RegExp(PROBER.replace(/\./g, '\\.')));
  await alert.getByTestId('ack').click();
  await alert.getByTestId('acked').waitFor();
  await b.screenshot('alerts');

  // Rules: the built-in pack with its state.
  await page.goto(`${tg.admin}/#/rules`);
  await page.locator('[data-rule=endpoint-probing]').waitFor();
  assert.equal(await page.getByTestId('rules').locator('tbody tr').count(), 8);
  await b.screenshot('rules');

  // Backends: the pool and its server.
  await page.goto(`${tg.admin}/#/backends`);
  await page.locator(`[data-server="${backend.address}"]`).waitFor();
  assert.match((await page.locator(`[data-server="${backend.address}"]`).textContent()) ?? '', /healthy/);
  await b.screenshot('backends');

  // Blocks: add one through the form (it is enforced), then lift it.
  await page.goto(`${tg.admin}/#/blocks`);
  await page.getByTestId('block-value').fill('192.0.2.200');
  await page.getByTestId('block-duration').fill('10m');
  await page.getByTestId('block-reason').fill('dashboard test');
  await page.getByTestId('block-submit').click();
  await page.locator('[data-block="192.0.2.200"]').waitFor();
  assert.equal((await get(`${tg.proxy}/x`, { headers: { 'x-forwarded-for': '192.0.2.200' } })).status, 403);
  await b.screenshot('blocks');
  await page.locator('[data-block="192.0.2.200"]').getByTestId('block-lift').click();
  await page.locator('[data-block="192.0.2.200"]').waitFor({ state: 'detached' });
  assert.equal((await get(`${tg.proxy}/x`, { headers: { 'x-forwarded-for': '192.0.2.200' } })).status, 200);

  // Deployments: the marker and its before/after comparison.
  const deps = (await (await adminFetch(`${tg.admin}/api/v1/deployments`)).json()) as { deployments: { id: string }[] };
  await page.goto(`${tg.admin}/#/deployments/${deps.deployments[0].id}`);
  await page.getByTestId('compare').waitFor();
  assert.match((await page.locator('[data-metric=requests]').textContent()) ?? '', /\d/);
  await b.screenshot('deployments');

  // Signing out returns to the sign-in page; the token never appeared in a URL.
  await page.getByTestId('signout').click();
  await page.getByTestId('signin-token').waitFor();
  assert.deepEqual(urls.filter((u) => u.includes(TEST_ADMIN_TOKEN)), []);
  assert.deepEqual(b.errors, [], 'no errors in the browser console');
});

test('an empty store says how to send traffic', { skip, timeout: 60_000 }, async () => {
  const empty = await startTollgate({ app: [backend.address] });
  try {
    const { page } = b;
    await page.goto(`${empty.admin}/`);
    await page.getByTestId('signin-token').fill(TEST_ADMIN_TOKEN);
    await page.getByTestId('signin-submit').click();
    const box = page.getByTestId('empty').first();
    await box.waitFor();
    assert.match((await box.textContent()) ?? '', new RegExp(`curl -i http://127\\.0\\.0\\.1:${empty.proxyPort}/`));
    await b.screenshot('overview-empty');
    assert.deepEqual(b.errors, []);
  } finally {
    await empty.stop();
  }
});
