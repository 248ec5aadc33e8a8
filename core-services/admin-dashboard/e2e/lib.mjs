// Shared pieces of the browser tests: Debian's Chromium through playwright-core, axe-core
// checks, Content-Security-Policy violation capture, numbered screenshots.

import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-default-apps',
  '--no-sandbox',
];

/** Fails the run with a message that says which step broke. */
export class StepError extends Error {}

export async function launch() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  const problems = { csp: [], pageErrors: [], consoleErrors: [] };
  // Record CSP violations from inside the page (init scripts are not subject to the policy).
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber || ''})`);
    });
  });
  page.on('pageerror', (error) => problems.pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const text = message.text();
      problems.consoleErrors.push(text);
      if (/Content Security Policy/i.test(text)) problems.csp.push(text);
    }
  });
  return { browser, context, page, problems };
}

let axeSource;

/** Runs axe-core in the page; returns the serious and critical violations. */
export async function axeViolations(page) {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(`${axeSource}\n;true`);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Numbered screenshots in OUT_DIR, one per step. */
export function screenshots(outDir) {
  let n = 0;
  return async (page, name) => {
    await mkdir(outDir, { recursive: true });
    n += 1;
    const file = path.join(outDir, `${String(n).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
}

/** CSP violations recorded in the page so far. */
export async function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations ?? []).catch(() => []);
}

/** In-app navigation (tokens live in memory, so a page load would sign out). */
export async function appNavigate(page, appPath) {
  await page.evaluate((p) => {
    window.history.pushState(null, '', `/admin${p}`);
    window.dispatchEvent(new Event('admin:navigate'));
  }, appPath);
}

/** Waits until `fn` returns a truthy value (polling), or fails with `what`. */
export async function eventually(what, fn, { timeoutMs = 30_000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new StepError(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${last.message ?? last}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A checker for one screen: screenshot, axe (serious/critical fail), CSP violations (fail),
 * uncaught page errors (fail). Returns a summary line.
 */
export function screenChecker(page, problems, shoot) {
  const failures = [];
  return {
    failures,
    async check(name) {
      // Let loading states settle.
      await page.waitForLoadState('networkidle').catch(() => undefined);
      await page.waitForFunction(() => !document.querySelector('.state-loading'), null, { timeout: 15_000 }).catch(() => undefined);
      const file = await shoot(page, name);
      const serious = await axeViolations(page);
      const csp = await cspViolations(page);
      const bodyText = await page.evaluate(() => document.body.innerText.trim().length);
      const lines = [];
      if (bodyText === 0) lines.push('the screen is blank');
      for (const v of serious) lines.push(`axe ${v.impact}: ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
      for (const c of [...csp, ...problems.csp.splice(0)]) lines.push(`CSP violation: ${c}`);
      for (const e of problems.pageErrors.splice(0)) lines.push(`uncaught error: ${e}`);
      if (lines.length) failures.push(`${name}: ${lines.join('; ')}`);
      console.log(`${lines.length ? 'FAIL' : 'ok  '} ${name} (${path.basename(file)})${lines.length ? `\n     ${lines.join('\n     ')}` : ''}`);
      return lines;
    },
  };
}
