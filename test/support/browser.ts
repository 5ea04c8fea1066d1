/**
 * Headless Chromium (Debian's `chromium`, installed by
 * scripts/install-test-deps.sh) driven by playwright-core, for the dashboard's
 * end-to-end tests. Loopback only: background networking, component updates
 * and sync are off, so the browser makes no connection but the test's.
 * Screenshots go to test-artifacts/ (kept by CI as artifacts, ignored by git).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from '../helpers.js';

export const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

export const NEEDS_CHROMIUM = `${CHROMIUM} is not installed (bash scripts/install-test-deps.sh chromium)`;

export function browserAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export interface TestBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function startBrowser(artifactDir: string): Promise<TestBrowser> {
  // playwright gives the browser a fresh temporary profile of its own.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  const dir = path.join(ARTIFACTS, artifactDir);
  mkdirSync(dir, { recursive: true });
  return {
    browser,
    context,
    page,
    errors,
    async screenshot(name) {
      const file = path.join(dir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await browser.close().catch(() => {});
    },
  };
}
