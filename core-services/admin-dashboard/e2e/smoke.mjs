// Smoke test without the platform: serves the build with `vite preview` (same CSP as the
// gateway) and drives every screen in Chromium twice: with the API down (every screen must show
// an error state, never a blank page) and with a stand-in API answering plausible data. Each
// screen is screenshotted and checked with axe-core (serious/critical violations fail) and
// for CSP violations.
//
//   npm run build && npm run smoke            # OUT_DIR defaults to test-results/smoke

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { appNavigate, launch, screenChecker, screenshots } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const PORT = Number(process.env.PREVIEW_PORT ?? 4173);
const BASE = `http://127.0.0.1:${PORT}`;
const OUT_DIR = process.env.OUT_DIR ?? path.join(root, 'test-results', 'smoke');

const b64url = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const fakeToken = (roles) =>
  `${b64url({ alg: 'EdDSA', kid: 'smoke' })}.${b64url({ sub: '0190a0b0-0000-7000-8000-000000000001', exp: Math.floor(Date.now() / 1000) + 900, iat: Math.floor(Date.now() / 1000), roles, sid: 's', jti: 'j' })}.c2ln`;

const json = (route, status, body, type = 'application/json') => route.fulfill({ status, contentType: type, body: JSON.stringify(body) });
const problem = (route, status, title, detail, errors) =>
  json(route, status, { type: 'https://retail-platform.dev/problems/x', title, status, detail, request_id: 'smoke-req', ...(errors ? { errors } : {}) }, 'application/problem+json');

async function startPreview() {
  const child = spawn(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'preview', '--port', String(PORT), '--strictPort'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (d) => process.stderr.write(d));
  for (let i = 0; i < 100; i += 1) {
    try {
      const r = await fetch(`${BASE}/admin/`);
      if (r.ok) return child;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error('vite preview did not start');
}

const ORDER_ID = '0190a0b0-1111-7000-8000-00000000abcd';
const now = new Date().toISOString();
const product = {
  id: '0190a0b0-2222-7000-8000-000000000001',
  sku: 'ELE-00001',
  name: 'Noise-cancelling headphones',
  description: 'Over-ear',
  brand: 'Acme',
  category: 'electronics',
  price: { amount: 19999, currency: 'EUR' },
  attributes: { color: 'black', weight: 250 },
  image_urls: [],
  active: true,
  version: 3,
  created_at: now,
  updated_at: now,
};
const order = {
  id: ORDER_ID,
  customer_id: '0190a0b0-3333-7000-8000-000000000009',
  status: 'CONFIRMED',
  cancel_reason: null,
  total_amount: 39998,
  currency: 'EUR',
  created_at: now,
  updated_at: now,
  total: { amount: 39998, currency: 'EUR' },
  lines: [{ sku: 'ELE-00001', product_id: product.id, name: product.name, quantity: 2, unit_amount: 19999 }],
  contact: { email: 'shopper@example.com', name: 'Sam' },
  payment_id: 'pay_1',
  carrier: null,
  tracking_number: null,
  timeline: [
    { step: 'placed', status: 'PENDING', detail: { lines: 1 }, event_id: 'e1', at: now },
    { step: 'stock_reserved', status: 'RESERVED', detail: { expires_at: now }, event_id: 'e2', at: now },
    { step: 'payment_authorized', status: 'PAID', detail: {}, event_id: 'e3', at: now },
    { step: 'confirmed', status: 'CONFIRMED', detail: {}, event_id: 'e4', at: now },
  ],
};
const payment = {
  id: '0190a0b0-4444-7000-8000-000000000001',
  order_id: ORDER_ID,
  customer_id: order.customer_id,
  amount: 39998,
  currency: 'EUR',
  status: 'captured',
  failure_reason: null,
  psp_reference: 'psp_123',
  created_at: now,
  updated_at: now,
  ledger: [
    { id: 1, kind: 'authorization', amount: 39998, currency: 'EUR', psp_reference: 'psp_123', refund_id: null, created_at: now },
    { id: 2, kind: 'capture', amount: 39998, currency: 'EUR', psp_reference: 'psp_123', refund_id: null, created_at: now },
  ],
  balance: { authorized: 39998, captured: 39998, voided: 0, refunded: 0, net: 39998, reconciles: true },
};
const me = {
  id: '0190a0b0-0000-7000-8000-000000000001',
  email: 'admin@example.com',
  name: 'Ada Admin',
  phone: null,
  roles: ['shopper', 'admin'],
  email_verified: true,
  created_at: now,
};
const sub = {
  id: '0190a0b0-5555-7000-8000-000000000001',
  url: 'https://partner.example/hooks',
  event_types: ['order.confirmed', 'order.shipped'],
  description: 'Partner ERP',
  status: 'active',
  disabled_reason: null,
  created_at: now,
  updated_at: now,
};

/** A stand-in API with data on every screen. */
async function mockApi(route) {
  const url = new URL(route.request().url());
  const p = url.pathname.replace(/^\/api\/v1/, '');
  const method = route.request().method();
  if (p === '/auth/login') return json(route, 200, { access_token: fakeToken(['shopper', 'admin']), token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
  if (p === '/auth/logout') return route.fulfill({ status: 204 });
  if (p === '/me') return json(route, 200, me);
  if (p === '/me/password')
    return problem(route, 422, 'The request has invalid fields', 'invalid fields: current_password', [{ field: 'current_password', message: 'is not correct' }]);
  if (p === '/me/sessions/revoke-all' || /^\/users\/[^/]+\/sessions\/revoke-all$/.test(p)) return route.fulfill({ status: 204 });
  if (p === '/admin/orders/summary')
    return json(route, 200, {
      orders_placed: 42,
      revenue: [{ amount: 1234500, currency: 'EUR' }],
      by_status: [
        { status: 'CONFIRMED', count: 30 },
        { status: 'SHIPPED', count: 4 },
        { status: 'CANCELLED', count: 6 },
        { status: 'PENDING', count: 2 },
      ],
      cancellations: [
        { reason: 'out_of_stock', count: 4 },
        { reason: 'payment_declined', count: 2 },
      ],
    });
  if (p === '/admin/inventory/reservations') return json(route, 200, { items: [{ order_id: ORDER_ID, sku: 'ELE-00001', quantity: 2, expires_at: now }], next_cursor: null });
  if (p === '/admin/inventory')
    return json(route, 200, {
      items: Array.from({ length: 20 }, (_, i) => ({ sku: `ELE-${String(i + 1).padStart(5, '0')}`, on_hand: 10 + i, reserved: i % 3, available: 10 + i - (i % 3), low_threshold: 12, low: 10 + i - (i % 3) <= 12 })),
      next_cursor: 'c2',
    });
  if (p.startsWith('/admin/inventory/')) {
    if (method === 'PUT') return problem(route, 422, 'The request has invalid fields', 'invalid fields: reason', [{ field: 'reason', message: 'must be 1 to 200 characters' }]);
    return json(route, 200, { sku: 'ELE-00001', on_hand: 40, reserved: 2, low_threshold: 5 });
  }
  if (p === '/categories') return json(route, 200, [{ id: 'c', slug: 'electronics', name: 'Electronics', children: [{ id: 'd', slug: 'audio', name: 'Audio', children: [] }] }]);
  if (p === '/products') return json(route, 200, { items: [product, { ...product, id: `${product.id.slice(0, -1)}2`, sku: 'ELE-00002', name: 'Speaker' }], next_cursor: null });
  if (p.startsWith('/admin/products/')) return json(route, 200, product);
  if (p === '/admin/orders') return json(route, 200, { items: [order, { ...order, id: `${ORDER_ID.slice(0, -1)}e`, status: 'CANCELLED', cancel_reason: 'out_of_stock' }], next_cursor: 'x' });
  if (p.startsWith('/admin/orders/')) return json(route, 200, order);
  if (p === '/admin/payments') return json(route, 200, { items: [payment], next_cursor: null });
  if (p.startsWith('/admin/payments/')) return json(route, 200, payment);
  if (p === '/admin/webhooks') return json(route, 200, { items: [sub], next_cursor: null });
  if (p.endsWith('/deliveries'))
    return json(route, 200, {
      items: [
        { delivery_id: 'd1', event_id: '0190a0b0-6666-7000-8000-000000000001', event_type: 'order.confirmed', attempt: 1, status_code: 200, outcome: 'delivered', error: null, at: now },
        { delivery_id: 'd2', event_id: '0190a0b0-6666-7000-8000-000000000002', event_type: 'order.shipped', attempt: 2, status_code: 503, outcome: 'retrying', error: 'HTTP 503', at: now },
      ],
      next_cursor: null,
    });
  if (p.startsWith('/admin/webhooks/')) return json(route, 200, sub);
  const dlq = /^\/admin\/dead-letters\/([^/]+)(?:\/([^/]+))?/.exec(p);
  if (dlq && !dlq[2]) return json(route, 200, { items: [{ queue: `${dlq[1]}.dlq`, depth: dlq[1] === 'orders' ? 2 : 0 }] });
  if (dlq)
    return json(route, 200, {
      items: [{ id: 'm-1', event_type: 'payment.captured', error: 'order 123 not found', body: { id: 'e', type: 'payment.captured', data: { order_id: '123' } } }],
    });
  return problem(route, 404, 'Not found', `no stand-in for ${p}`);
}

/** Every call fails as if the services were down (sign-in works, to reach the screens). */
async function downApi(route) {
  const p = new URL(route.request().url()).pathname.replace(/^\/api\/v1/, '');
  if (p === '/auth/login') return json(route, 200, { access_token: fakeToken(['admin']), token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
  if (p === '/auth/logout') return route.fulfill({ status: 204 });
  return problem(route, 503, 'Service unavailable', 'the upstream service is not answering');
}

const SCREENS = [
  ['overview', '/'],
  ['products', '/products'],
  ['product-new', '/products/new'],
  ['product-edit', `/products/${product.id}`],
  ['product-import', '/products/import'],
  ['inventory', '/inventory'],
  ['orders', '/orders'],
  ['order-detail', `/orders/${ORDER_ID}`],
  ['payments', '/payments'],
  ['payment-detail', `/payments/${ORDER_ID}`],
  ['webhooks', '/webhooks'],
  ['webhook-detail', `/webhooks/${sub.id}`],
  ['dead-letters', '/dead-letters'],
  ['account', '/account'],
];

async function signIn(page) {
  await page.getByLabel('Email').fill('admin@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
}

async function main() {
  const preview = await startPreview();
  const { browser, page, problems } = await launch();
  const shoot = screenshots(OUT_DIR);
  const checker = screenChecker(page, problems, shoot);
  try {
    // 1. No backend at all: the sign-in page shows why it cannot sign in.
    await page.goto(`${BASE}/admin/`);
    await checker.check('signin');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await checker.check('signin-empty-fields');
    await page.getByLabel('Email').fill('admin@example.com');
    await page.getByLabel('Password').fill('whatever-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').first().waitFor();
    await checker.check('signin-no-backend');

    // 2. A shopper is refused.
    await page.route('**/api/v1/auth/login', (route) => json(route, 200, { access_token: fakeToken(['shopper']), token_type: 'Bearer', expires_in: 900, refresh_token: 'r' }));
    await page.route('**/api/v1/auth/logout', (route) => route.fulfill({ status: 204 }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('This is not an administrator account', { exact: false }).first().waitFor();
    await checker.check('signin-shopper-refused');
    await page.unrouteAll({ behavior: 'ignoreErrors' });

    // 3. Signed in, every service down.
    await page.route('**/api/v1/**', downApi);
    await signIn(page);
    for (const [name, p] of SCREENS) {
      await appNavigate(page, p);
      await checker.check(`down-${name}`);
      const alerts = await page.getByRole('alert').count();
      if (alerts === 0 && !['product-new', 'product-import'].includes(name)) checker.failures.push(`down-${name}: no error state shown`);
    }
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.unrouteAll({ behavior: 'ignoreErrors' });

    // 4. A stand-in API with data; sign in with the keyboard only.
    await page.route('**/api/v1/**', mockApi);
    await page.locator('body').focus();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.id);
    if (focused !== 'signin-email') checker.failures.push(`keyboard: the first Tab lands on ${focused}, not the email field`);
    await page.keyboard.type('admin@example.com');
    await page.keyboard.press('Tab');
    await page.keyboard.type('correct horse battery');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
    for (const [name, p] of SCREENS) {
      await appNavigate(page, p);
      await checker.check(`data-${name}`);
    }
    // Dialogs and forms with errors; the refund dialog by keyboard: focus returns on Escape.
    await appNavigate(page, `/orders/${ORDER_ID}`);
    await page.getByRole('button', { name: 'Refund', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    const inDialog = await page.evaluate(() => Boolean(document.activeElement?.closest('[role="dialog"]')));
    if (!inDialog) checker.failures.push('keyboard: focus did not move into the refund dialog');
    for (let i = 0; i < 12; i += 1) await page.keyboard.press('Tab');
    const stillInDialog = await page.evaluate(() => Boolean(document.activeElement?.closest('[role="dialog"]')));
    if (!stillInDialog) checker.failures.push('keyboard: Tab left the refund dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    const back = await page.evaluate(() => document.activeElement?.textContent);
    if (back !== 'Refund') checker.failures.push(`keyboard: focus went to "${back}" after closing the dialog, not back to Refund`);
    await page.getByRole('button', { name: 'Refund', exact: true }).click();
    await page.getByLabel('Partial refund').check();
    await page.getByLabel('Amount (EUR)').fill('999999');
    await page.getByRole('button', { name: 'Review refund' }).click();
    await checker.check('data-refund-dialog-errors');
    await page.keyboard.press('Escape');
    await appNavigate(page, '/inventory');
    await page.getByRole('button', { name: 'Restock or adjust ELE-00001' }).click();
    await page.getByLabel(/Units to add/).fill('5');
    await page.getByLabel('Reason').fill('x');
    await page.getByRole('button', { name: 'Save stock' }).click();
    await page.locator('#stock-reason-error').waitFor();
    await checker.check('data-stock-dialog-api-error');
    await page.keyboard.press('Escape');
    await appNavigate(page, '/dead-letters');
    await page.getByRole('button', { name: /orders\.dlq/ }).click();
    await page.getByRole('button', { name: 'Inspect message m-1' }).click();
    await checker.check('data-dead-letter-inspect');
    await appNavigate(page, '/products/import');
    await page.getByLabel('…or paste CSV').fill('sku,name,price\nA-1,Alpha,1.999\nB-1,Beta,2.50\n');
    await checker.check('data-import-preview');
    // Ending a customer's sessions from the order screen.
    await appNavigate(page, `/orders/${ORDER_ID}`);
    await page.getByRole('button', { name: "End the customer's sessions" }).click();
    await page.getByRole('dialog').waitFor();
    await checker.check('data-end-customer-sessions-dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'End sessions' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.getByText(`Every session of customer ${order.customer_id} has ended`).waitFor();
    // My account: the form's own checks, then the API's field error under its field.
    await page.getByRole('link', { name: 'My account' }).click();
    await page.getByRole('heading', { name: 'My account', level: 1 }).waitFor();
    await page.getByLabel('Current password').fill('wrong-password');
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('Repeat new password').fill('other');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#pw-new-error').waitFor();
    await checker.check('data-account-password-errors');
    await page.getByLabel('New password', { exact: true }).fill('new-password-1');
    await page.getByLabel('Repeat new password').fill('new-password-1');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#pw-current-error').waitFor();
    const currentError = await page.locator('#pw-current-error').innerText();
    if (!currentError.includes('is not correct')) checker.failures.push(`account: expected the API's error under Current password, got "${currentError}"`);
    await checker.check('data-account-password-api-error');
    // Sign out everywhere: the sign-in screen says what happened.
    await page.getByRole('button', { name: 'Sign out everywhere…' }).click();
    await page.getByRole('dialog').waitFor();
    await checker.check('data-sign-out-everywhere-dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('heading', { name: /sign in/i }).waitFor();
    await page.getByText('You signed out everywhere', { exact: false }).waitFor();
    await checker.check('data-signed-out-everywhere');
  } finally {
    await browser.close();
    preview.kill();
  }
  if (checker.failures.length) {
    console.error(`\n${checker.failures.length} screen(s) failed:\n  ${checker.failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`\nall screens passed; screenshots in ${OUT_DIR}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
