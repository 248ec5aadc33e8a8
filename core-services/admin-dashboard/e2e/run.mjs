// End-to-end test of the admin dashboard against the running platform (`cargo xtask up`),
// in Debian's Chromium driven by playwright-core. The journey of issue 7:
//
//   sign in (a shopper is refused) -> create a product (an API field error first) -> find it
//   through the public search API -> restock it -> place an order through the public API as a
//   shopper -> watch it reach CONFIRMED on the order screen with its timeline -> refund it
//   (partly, then the rest) -> see the ledger reconcile and the refund e-mail in moto's SES
//   -> end the shopper's sessions from the order screen (its refresh token stops working)
//
// The admin's own password is never changed and "sign out everywhere" is not pressed here (both
// would end every session of the shared demo admin); the account screen is visited and its
// form's own checks exercised, and `npm run smoke` covers the rest against a stand-in API.
//
// Every step saves a screenshot in OUT_DIR; every screen is checked with axe-core (serious or
// critical violations fail) and for Content-Security-Policy violations. Exits non-zero with
// the failing step on any failure.
//
//   BASE_URL        gateway (default http://127.0.0.1:8080)
//   ADMIN_EMAIL     admin account (default admin@retail-platform.dev)
//   ADMIN_PASSWORD  its password (default demo-admin-password)
//   MOTO_URL        moto server, for sent e-mail (default http://127.0.0.1:5000)
//   OUT_DIR         screenshots (default test-results/e2e)
//   CHROMIUM_PATH   browser (default /usr/bin/chromium)

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { StepError, appNavigate, eventually, launch, screenChecker, screenshots } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_EMAIL = process.env.ADMIN_EMAIL ?? 'admin@retail-platform.dev';
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD ?? 'demo-admin-password';
const MOTO_URL = (process.env.MOTO_URL ?? 'http://127.0.0.1:5000').replace(/\/+$/, '');
const OUT_DIR = process.env.OUT_DIR ?? path.join(here, '..', 'test-results', 'e2e');
const SAGA_TIMEOUT_MS = Number(process.env.SAGA_TIMEOUT_MS ?? 90_000);

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`.toLowerCase();
const SKU = `E2E-${RUN}`.toUpperCase();
const TOKEN = `e2e${RUN}`; // a word only this run's product has, for full-text search
const PRODUCT_NAME = `Admin journey ${TOKEN} lamp`;
const SHOPPER_EMAIL = `shopper-${RUN}@example.com`;
const SHOPPER_PASSWORD = `pw-${RUN}-correct-horse`;

// ---- API helpers (the shopper side goes straight to the public API) ----

async function api(method, p, { token, body, headers } = {}) {
  const response = await fetch(`${BASE_URL}/api/v1${p}`, {
    method,
    headers: {
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  return { status: response.status, data, headers: response.headers };
}

function expectStatus(what, result, ...ok) {
  if (!ok.includes(result.status)) {
    throw new StepError(`${what}: expected HTTP ${ok.join(' or ')}, got ${result.status}: ${JSON.stringify(result.data)}`);
  }
  return result.data;
}

// ---- the journey ----

const steps = [];
let current = '';
function step(name) {
  current = name;
  steps.push(name);
  console.log(`\n== ${steps.length}. ${name}`);
}

async function checkGatewayHeaders() {
  const index = await fetch(`${BASE_URL}/admin/`);
  if (index.status !== 200) throw new StepError(`GET /admin/ answered ${index.status}; is the gateway serving the dashboard?`);
  const html = await index.text();
  const csp = index.headers.get('content-security-policy') ?? '';
  const problems = [];
  if (!csp) problems.push('no Content-Security-Policy header on /admin/');
  if (/unsafe-inline|unsafe-eval/.test(csp)) problems.push(`the policy allows unsafe sources: ${csp}`);
  if (csp && !/script-src[^;]*'self'|default-src[^;]*'self'/.test(csp)) problems.push(`the policy does not restrict scripts to 'self': ${csp}`);
  const indexCache = index.headers.get('cache-control') ?? '';
  if (!/no-cache|no-store|max-age=0/.test(indexCache)) problems.push(`index.html Cache-Control should prevent reuse without revalidation, got "${indexCache}"`);
  const asset = /\/admin\/assets\/[^"']+\.js/.exec(html)?.[0];
  if (!asset) problems.push('index.html references no /admin/assets/*.js');
  else {
    const js = await fetch(`${BASE_URL}${asset}`);
    const assetCache = js.headers.get('cache-control') ?? '';
    if (js.status !== 200) problems.push(`${asset} answered ${js.status}`);
    if (!/immutable/.test(assetCache) || !/max-age=\d{6,}/.test(assetCache)) problems.push(`${asset} Cache-Control should be long-lived and immutable, got "${assetCache}"`);
  }
  const deep = await fetch(`${BASE_URL}/admin/orders`);
  const warnings = [];
  if (deep.status !== 200 || !(deep.headers.get('content-type') ?? '').includes('text/html')) {
    warnings.push(`GET /admin/orders (an app route) should answer index.html so reloads and deep links work, got ${deep.status}`);
  }
  console.log(`   CSP: ${csp}\n   index Cache-Control: ${indexCache}`);
  if (problems.length) throw new StepError(problems.join('\n   '));
  return warnings;
}

async function signIn(page, email, password) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function nav(page, label) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: label, exact: true }).click();
  await page.locator('main h1').first().waitFor();
}

/** Finds the refund e-mail for `orderId` in moto's record of sent SES messages. */
async function refundEmails(orderId) {
  const response = await fetch(`${MOTO_URL}/moto-api/data.json`);
  if (!response.ok) return [];
  const data = await response.json();
  const found = [];
  const matches = (node) => {
    const text = JSON.stringify(node);
    return text.includes(orderId) && /refund|erstattung/i.test(text);
  };
  // The deepest objects that mention the order and a refund are the messages, whatever
  // moto's layout (service -> model -> [records], possibly keyed by account and region).
  const walk = (node) => {
    if (!node || typeof node !== 'object' || !matches(node)) return false;
    const children = Array.isArray(node) ? node : Object.values(node);
    const deeper = children.map(walk).some(Boolean);
    if (!deeper && !Array.isArray(node)) found.push(node);
    return true;
  };
  walk(data.ses ?? data.sesv2 ?? data);
  return found;
}

async function main() {
  console.log(`admin dashboard e2e against ${BASE_URL} (run ${RUN}); screenshots in ${OUT_DIR}`);
  const { browser, page, problems } = await launch();
  const shoot = screenshots(OUT_DIR);
  const checker = screenChecker(page, problems, shoot);
  const warnings = [];
  const checkScreen = async (name) => {
    const failed = await checker.check(name);
    if (failed.length) throw new StepError(`screen "${name}" failed its checks:\n   ${failed.join('\n   ')}`);
  };
  try {
    step('the gateway serves the dashboard with a strict CSP and caching headers');
    warnings.push(...(await checkGatewayHeaders()));

    step('the sign-in screen');
    await page.goto(`${BASE_URL}/admin/`);
    await page.getByRole('heading', { name: /sign in/i }).waitFor();
    await checkScreen('signin');

    step('a shopper account is refused');
    // Registration answers 202 whether or not the email is known; the account's id comes from
    // signing in.
    expectStatus(
      'register the shopper',
      await api('POST', '/auth/register', { body: { email: SHOPPER_EMAIL, password: SHOPPER_PASSWORD, name: `Shopper ${RUN}` } }),
      202,
    );
    const shopperTokens = expectStatus(
      'sign the shopper in',
      await api('POST', '/auth/login', { body: { email: SHOPPER_EMAIL, password: SHOPPER_PASSWORD } }),
      200,
    );
    const shopperId = expectStatus('read the shopper', await api('GET', '/me', { token: shopperTokens.access_token }), 200).id;
    await signIn(page, SHOPPER_EMAIL, SHOPPER_PASSWORD);
    await page.getByText('This is not an administrator account', { exact: false }).first().waitFor({ timeout: 15_000 });
    await checkScreen('signin-shopper-refused');

    step('sign in as the admin');
    await page.getByLabel('Email').fill('');
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    const outcome = await Promise.race([
      page.getByRole('button', { name: 'Sign out', exact: true }).waitFor({ timeout: 20_000 }).then(() => 'in'),
      page.locator('.form-errors').waitFor({ timeout: 20_000 }).then(() => 'refused'),
    ]);
    if (outcome !== 'in') {
      const why = await page.locator('.form-errors').innerText();
      await shoot(page, 'admin-signin-failed');
      throw new StepError(
        `the admin could not sign in as ${ADMIN_EMAIL}: ${why.replace(/\s+/g, ' ')}\n` +
          '   Set ADMIN_EMAIL/ADMIN_PASSWORD to an admin account (register it, then `cargo run -p users -- promote-admin <email>`).',
      );
    }
    await checkScreen('overview');

    step('create a product: the API names the field it refuses');
    await nav(page, 'Products');
    await checkScreen('products');
    await page.getByRole('link', { name: 'New product' }).click();
    await page.getByLabel('SKU').fill(SKU);
    await page.getByLabel('Name').fill(PRODUCT_NAME);
    await page.getByLabel('Description').fill(`Created by the admin dashboard e2e run ${RUN}.`);
    await page.getByLabel('Brand').fill('E2E Lighting');
    await page.getByLabel('Price').fill('24.50');
    await page.getByLabel('Category').fill(`no-such-category-${RUN}`);
    await page.getByLabel('Attributes').fill('color=amber\nwatts=40');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.locator('#p-category-error').waitFor({ timeout: 15_000 });
    const categoryError = await page.locator('#p-category-error').innerText();
    if (!/category/i.test(categoryError)) throw new StepError(`expected a category error under the field, got "${categoryError}"`);
    await checkScreen('product-api-field-error');

    step('create the product');
    await page.getByLabel('Category').fill('');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.waitForURL(/\/admin\/products\/[0-9a-f-]{36}$/, { timeout: 15_000 });
    const productId = page.url().split('/').pop();
    await page.getByRole('heading', { name: PRODUCT_NAME }).waitFor();
    await checkScreen('product-created');

    step('find it through the public search API');
    const hit = await eventually(
      `"${TOKEN}" in GET /api/v1/products?q=`,
      async () => {
        const r = await api('GET', `/products?q=${encodeURIComponent(TOKEN)}`);
        return r.status === 200 && r.data.items.find((p) => p.id === productId);
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    console.log(`   public search found ${hit.sku} at ${hit.price.amount} ${hit.price.currency}`);
    await nav(page, 'Products');
    await page.getByLabel('Search', { exact: true }).fill(TOKEN);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('cell', { name: SKU }).waitFor({ timeout: 15_000 });
    await checkScreen('products-search');

    step('restock it');
    await nav(page, 'Inventory');
    await page.getByLabel('Find SKU').fill(SKU);
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await page.getByTestId('stock-card').waitFor({ timeout: 15_000 });
    await checkScreen('inventory-sku');
    await page.getByTestId('stock-card').getByRole('button').click();
    await page.getByRole('dialog').waitFor();
    await page.getByLabel(/Units to add/).fill('25');
    await page.getByLabel('Reason').fill(`e2e restock ${RUN}`);
    await checkScreen('inventory-restock-dialog');
    await page.getByRole('button', { name: 'Save stock' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 15_000 });
    await eventually('25 units on hand', async () => (await page.getByTestId('stock-on-hand').innerText()).trim() === '25', { timeoutMs: 15_000 });
    await checkScreen('inventory-restocked');
    const availability = expectStatus('public availability', await api('GET', `/inventory/${SKU}`), 200);
    if (availability.available < 2) throw new StepError(`public availability says ${availability.available} units`);

    step('place an order through the public API');
    const login = expectStatus('shopper login', await api('POST', '/auth/login', { body: { email: SHOPPER_EMAIL, password: SHOPPER_PASSWORD } }), 200);
    const shopper = login.access_token;
    expectStatus('add to cart', await api('PUT', `/cart/lines/${SKU}`, { token: shopper, body: { quantity: 2 } }), 200);
    const accepted = expectStatus(
      'checkout',
      await api('POST', '/checkout', { token: shopper, body: { payment_method: 'pm_card_visa' }, headers: { 'Idempotency-Key': `e2e-${RUN}` } }),
      202,
    );
    const orderId = accepted.order_id;
    console.log(`   order ${orderId} placed (${accepted.status}), total ${accepted.total.amount} ${accepted.total.currency}`);

    step('watch it reach CONFIRMED on the order screen');
    await nav(page, 'Orders');
    await page.getByLabel('Customer id').fill(shopperId);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('link', { name: `Order ${orderId}` }).waitFor({ timeout: 15_000 });
    await checkScreen('orders-filtered');
    await page.getByRole('link', { name: `Order ${orderId}` }).click();
    await page.getByTestId('order-status').waitFor();
    await shoot(page, 'order-in-flight');
    await eventually(
      'the order to reach CONFIRMED',
      async () => {
        const status = (await page.getByTestId('order-status').innerText()).trim();
        if (status === 'CANCELLED') throw new StepError('the order was CANCELLED instead of CONFIRMED; see the timeline screenshot');
        return status === 'CONFIRMED';
      },
      { timeoutMs: SAGA_TIMEOUT_MS, intervalMs: 1000 },
    ).catch(async (error) => {
      await shoot(page, 'order-not-confirmed');
      throw error;
    });
    const timeline = await page.getByTestId('timeline').innerText();
    for (const expected of ['Order placed', 'Stock reserved', 'Payment authorized', 'Confirmed']) {
      if (!timeline.includes(expected)) throw new StepError(`the timeline lacks "${expected}":\n${timeline}`);
    }
    await checkScreen('order-confirmed-timeline');

    step('refund part of it, with confirmation');
    // Capture follows confirmation; the Refund button is enabled once something is captured.
    await eventually(
      'the payment to be captured',
      async () => {
        if (await page.getByRole('button', { name: 'Refund', exact: true }).isEnabled()) return true;
        await page.getByRole('button', { name: 'Refresh', exact: true }).click();
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 2000 },
    );
    await page.getByRole('button', { name: 'Refund', exact: true }).click();
    await page.getByRole('dialog').waitFor();
    await page.getByLabel('Partial refund').check();
    await page.getByLabel(/^Amount/).fill('5.00');
    await page.getByLabel('Reason').fill('e2e: scratched on arrival');
    await page.getByRole('button', { name: 'Review refund' }).click();
    await page.getByTestId('refund-confirm-amount').waitFor();
    await checkScreen('refund-confirm-partial');
    await page.getByRole('dialog').getByRole('button', { name: /^Refund / }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 20_000 });
    await eventually('the partial refund in the ledger', async () => (await page.getByTestId('ledger-refunded').innerText()).includes('5.00'), {
      timeoutMs: 20_000,
    });

    step('refund the rest');
    await page.getByRole('button', { name: 'Refund', exact: true }).click();
    await page.getByRole('dialog').waitFor();
    await page.getByLabel(/Full refund/).check();
    await page.getByLabel('Reason').fill('e2e: customer returned the lamps');
    await page.getByRole('button', { name: 'Review refund' }).click();
    await page.getByTestId('refund-confirm-amount').waitFor();
    await checkScreen('refund-confirm-full');
    await page.getByRole('dialog').getByRole('button', { name: /^Refund / }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 20_000 });

    step('the ledger shows the refunds and the totals reconcile');
    await eventually(
      'refunded = captured and reconciled totals',
      async () => {
        const refunded = (await page.getByTestId('ledger-refunded').innerText()).trim();
        const reconcile = await page.getByTestId('reconcile').innerText();
        return refunded.includes('49.00') && reconcile.startsWith('Totals reconcile');
      },
      { timeoutMs: 20_000 },
    );
    const detail = expectStatus('payment detail', await api('GET', `/admin/payments/${orderId}`, { token: await adminToken() }), 200);
    const refunds = detail.ledger.filter((e) => e.kind === 'refund');
    if (refunds.length !== 2 || !detail.balance.reconciles || detail.balance.refunded !== detail.balance.captured) {
      throw new StepError(`unexpected ledger: ${JSON.stringify(detail.ledger)} balance ${JSON.stringify(detail.balance)}`);
    }
    await eventually(
      'the refund step on the timeline',
      async () => {
        if ((await page.getByTestId('timeline').innerText()).includes('Payment refunded')) return true;
        await page.getByRole('button', { name: 'Refresh', exact: true }).click();
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 2000 },
    );
    await checkScreen('order-refunded-ledger');

    step("end the shopper's sessions from the order screen");
    // The shopper's session is live: a refresh works (and rotates the token).
    const shopperRefresh = expectStatus('shopper refresh before', await api('POST', '/auth/refresh', { body: { refresh_token: login.refresh_token } }), 200).refresh_token;
    await page.getByRole('button', { name: "End the customer's sessions" }).click();
    await page.getByRole('dialog').waitFor();
    await checkScreen('end-customer-sessions-dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'End sessions' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByText(`Every session of customer ${shopperId} has ended`, { exact: false }).waitFor({ timeout: 10_000 });
    const refused = await api('POST', '/auth/refresh', { body: { refresh_token: shopperRefresh } });
    if (refused.status !== 401) throw new StepError(`the shopper's refresh token still works after ending the sessions: HTTP ${refused.status}`);

    step('the customer got the refund e-mail');
    const emails = await eventually(`a refund e-mail for order ${orderId} in ${MOTO_URL}/moto-api/data.json`, async () => {
      const found = await refundEmails(orderId);
      return found.length ? found : null;
    }, { timeoutMs: 90_000, intervalMs: 2000 });
    const email = emails[0];
    console.log(`   ${emails.length} refund e-mail(s); first: ${JSON.stringify(email).slice(0, 300)}`);
    const mailPage = await page.context().newPage();
    const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    await mailPage.setContent(
      `<!doctype html><html lang="en"><head><title>Refund e-mail</title></head><body><main><h1>E-mail captured by moto (SES)</h1>` +
        `<p><strong>Subject:</strong> ${esc(email.subject ?? '')}</p>` +
        `<p><strong>To:</strong> ${esc(JSON.stringify(email.destinations ?? email.destination ?? ''))}</p>` +
        `<pre>${esc(typeof email.body === 'string' ? email.body : JSON.stringify(email.body ?? email, null, 2))}</pre></main></body></html>`,
    );
    await shoot(mailPage, 'refund-email');
    await mailPage.close();

    step('deactivate it: gone from the shop, still listed for admins');
    await nav(page, 'Products');
    await page.getByLabel('Search', { exact: true }).fill(TOKEN);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('button', { name: `Deactivate ${PRODUCT_NAME}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Deactivate', exact: true }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 20_000 });
    await eventually(
      `GET /api/v1/products/by-sku/${SKU} to answer 404`,
      async () => (await api('GET', `/products/by-sku/${encodeURIComponent(SKU)}`)).status === 404,
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    await page.getByLabel('State').selectOption('inactive');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('button', { name: `Activate ${PRODUCT_NAME}` }).waitFor({ timeout: 15_000 });
    await checkScreen('products-inactive');
    const listed = await api('GET', `/admin/products?status=inactive&q=${encodeURIComponent(TOKEN)}`, { token: await adminToken() });
    const row = expectStatus('admin product list', listed, 200).items.find((p) => p.id === productId);
    if (!row || row.active !== false) throw new StepError(`the admin list does not show ${SKU} as inactive: ${JSON.stringify(listed.data).slice(0, 300)}`);

    step('every other screen passes its checks');
    await nav(page, 'Payments');
    await checkScreen('payments');
    // The ledger checked against Stripe (the simulator): a result, whatever earlier runs left.
    await page.getByRole('button', { name: 'Check the last 24 hours' }).click();
    await page.getByTestId('provider-reconciliation').waitFor({ timeout: 15_000 });
    await checkScreen('payments-reconciliation');
    await appNavigate(page, `/payments/${orderId}`);
    await page.getByTestId('reconcile').waitFor({ timeout: 15_000 });
    await checkScreen('payment-detail');
    for (const [label, name] of [
      ['Webhooks', 'webhooks'],
      ['Dead letters', 'dead-letters'],
    ]) {
      await nav(page, label);
      await checkScreen(name);
      const alerts = await page.getByRole('alert').allInnerTexts();
      if (alerts.length) warnings.push(`${name} shows errors from the API: ${alerts.join(' | ').replace(/\s+/g, ' ').slice(0, 300)}`);
    }
    await nav(page, 'Inventory');
    await checkScreen('inventory');
    await page.getByRole('link', { name: 'My account' }).click();
    await page.getByRole('heading', { name: 'My account', level: 1 }).waitFor();
    await page.getByTestId('account-email').waitFor({ timeout: 15_000 });
    const shownEmail = await page.getByTestId('account-email').innerText();
    if (!shownEmail.toLowerCase().includes(ADMIN_EMAIL.toLowerCase())) throw new StepError(`the account screen shows "${shownEmail}", not ${ADMIN_EMAIL}`);
    await checkScreen('account');
    // The form's own checks only (nothing is sent: a wrong current password counts as a failed sign-in).
    await page.getByLabel('Current password').fill('not-sent-anywhere');
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('Repeat new password').fill('different');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#pw-new-error').waitFor();
    await checkScreen('account-password-checks');
    await nav(page, 'Overview');
    await page.getByTestId('orders-today').waitFor({ timeout: 15_000 }).catch(() => undefined);
    await checkScreen('overview-after');
    const ordersToday = Number((await page.getByTestId('orders-today').innerText().catch(() => '0')).replace(/\D/g, ''));
    if (!(ordersToday >= 1)) throw new StepError("the overview does not count today's order (is /api/v1/admin/orders/summary answering?)");
    const refundedToday = await page.getByTestId('refunded-today').innerText();
    if (!/[1-9]/.test(refundedToday)) throw new StepError(`the overview shows no refund today after two refunds: "${refundedToday}"`);
  } catch (error) {
    await shoot(page, 'failure').catch(() => undefined);
    await browser.close();
    console.error(`\nFAILED at step ${steps.length} "${current}":\n   ${error instanceof StepError ? error.message : (error?.stack ?? error)}`);
    process.exit(1);
  }
  await browser.close();
  for (const w of warnings) console.warn(`WARN ${w}`);
  console.log(`\nall ${steps.length} steps passed; screenshots in ${OUT_DIR}`);

  async function adminToken() {
    const r = await api('POST', '/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    return expectStatus('admin login (API)', r, 200).access_token;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
