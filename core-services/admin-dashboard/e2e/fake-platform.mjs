// A stand-in for the platform behind the gateway, in memory, for working on the dashboard and
// rehearsing the e2e script without `cargo xtask up`. It serves dist/ at /admin/ with the
// gateway's headers, the public API routes the dashboard and the journey use (with a saga that
// moves PENDING -> RESERVED -> PAID -> CONFIRMED over a few seconds), and a moto-like
// /moto-api/data.json with the e-mails it "sent". Not a mock of every rule: just enough shape.
//
//   node e2e/fake-platform.mjs            # gateway on :18080, moto on :15000
//   BASE_URL=http://127.0.0.1:18080 MOTO_URL=http://127.0.0.1:15000 node e2e/run.mjs

import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(here, '..', 'dist');
const PORT = Number(process.env.FAKE_PORT ?? 18080);
const MOTO_PORT = Number(process.env.FAKE_MOTO_PORT ?? 15000);
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const b64url = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

const users = new Map(); // email -> user
const tokens = new Map(); // refresh -> { email, sid }
const endedSessions = new Set(); // sids whose access tokens no longer work
const failedPasswords = new Map(); // email -> wrong current passwords in a row
const products = new Map();
const stock = new Map();
const carts = new Map();
const orders = new Map();
const payments = new Map();
const emails = [];

function addUser(email, password, roles) {
  const user = { id: randomUUID(), email, name: email.split('@')[0], phone: null, roles, email_verified: true, created_at: now(), password };
  users.set(email, user);
  return user;
}
addUser(process.env.ADMIN_EMAIL ?? 'admin@retail-platform.dev', process.env.ADMIN_PASSWORD ?? 'demo-admin-password', ['shopper', 'admin']);

/** Tokens of a session: a new one, or (`sid`) the next of a refreshed one. */
function issue(user, sid = randomUUID()) {
  const refresh = randomUUID();
  tokens.set(refresh, { email: user.email, sid });
  const exp = Math.floor(Date.now() / 1000) + 900;
  return {
    access_token: `${b64url({ alg: 'EdDSA', kid: 'fake' })}.${b64url({ sub: user.id, exp, iat: exp - 900, nbf: exp - 900, roles: user.roles, sid, jti: randomUUID() })}.sig`,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: refresh,
  };
}

/** Ends every session of `user` (refresh tokens revoked, access tokens refused from now on). */
function endSessions(user) {
  let ended = 0;
  for (const [refresh, held] of tokens) {
    if (held.email !== user.email) continue;
    tokens.delete(refresh);
    endedSessions.add(held.sid);
    ended += 1;
  }
  return ended;
}

const publicUser = ({ password: _pw, ...user }) => user;
const userById = (id) => [...users.values()].find((u) => u.id === id);

function identity(req) {
  const auth = req.headers.authorization ?? '';
  const part = auth.replace(/^Bearer /, '').split('.')[1];
  if (!part) return null;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString());
  } catch {
    return null;
  }
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

function problem(res, status, title, detail, errors) {
  send(res, status, { type: `https://retail-platform.dev/problems/${status}`, title, status, detail, request_id: randomUUID(), ...(errors ? { errors } : {}) }, {
    'content-type': 'application/problem+json',
  });
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

function step(order, name, status, detail = {}) {
  order.status = status;
  order.updated_at = now();
  order.timeline.push({ step: name, status, detail, event_id: randomUUID(), at: now() });
}

function runSaga(order) {
  const payment = {
    id: randomUUID(),
    order_id: order.id,
    customer_id: order.customer_id,
    amount: order.total_amount,
    currency: 'EUR',
    status: 'created',
    failure_reason: null,
    psp_reference: null,
    created_at: now(),
    updated_at: now(),
    ledger: [],
  };
  setTimeout(() => {
    for (const line of order.lines) stock.get(line.sku).reserved += line.quantity;
    step(order, 'stock_reserved', 'RESERVED', { expires_at: new Date(Date.now() + 900_000).toISOString() });
    payments.set(order.id, payment);
  }, 1500);
  setTimeout(() => {
    payment.status = 'authorized';
    payment.psp_reference = `psp_${order.id.slice(0, 8)}`;
    payment.ledger.push({ id: payment.ledger.length + 1, kind: 'authorization', amount: payment.amount, currency: 'EUR', psp_reference: payment.psp_reference, refund_id: null, created_at: now() });
    step(order, 'payment_authorized', 'PAID');
  }, 3000);
  setTimeout(() => {
    for (const line of order.lines) {
      const s = stock.get(line.sku);
      s.reserved -= line.quantity;
      s.on_hand -= line.quantity;
    }
    step(order, 'confirmed', 'CONFIRMED');
  }, 4000);
  setTimeout(() => {
    payment.status = 'captured';
    payment.ledger.push({ id: payment.ledger.length + 1, kind: 'capture', amount: payment.amount, currency: 'EUR', psp_reference: payment.psp_reference, refund_id: null, created_at: now() });
    step(order, 'payment_captured', 'CONFIRMED');
  }, 6000);
}

function balance(ledger) {
  const sum = (k) => ledger.filter((e) => e.kind === k).reduce((t, e) => t + e.amount, 0);
  const [authorized, captured, voided, refunded] = ['authorization', 'capture', 'void', 'refund'].map(sum);
  return { authorized, captured, voided, refunded, net: captured - refunded, reconciles: captured + voided <= authorized && refunded <= captured };
}

const summaryOf = (o) => ({
  id: o.id,
  customer_id: o.customer_id,
  status: o.status,
  cancel_reason: null,
  total_amount: o.total_amount,
  currency: 'EUR',
  created_at: o.created_at,
  updated_at: o.updated_at,
});

async function apiRoute(req, res, url) {
  const p = url.pathname.replace(/^\/api\/v1/, '');
  let match;
  const m = req.method;
  const who = identity(req);
  const isAdmin = who?.roles?.includes('admin');
  if (who && endedSessions.has(who.sid) && !p.startsWith('/auth/')) return problem(res, 401, 'Authentication required', 'the session has ended');
  if ((p === '/me' || p.startsWith('/me/') || p.startsWith('/users/')) && !who) return problem(res, 401, 'Authentication required', 'sign in first');
  if (p.startsWith('/admin/') && !who) return problem(res, 401, 'Authentication required', 'this action requires a signed-in user');
  if (p.startsWith('/admin/') && !isAdmin) return problem(res, 403, 'Forbidden', 'this action requires the `admin` role');

  if (m === 'POST' && p === '/auth/register') {
    const b = await body(req);
    // As the users service: the same answer whether or not the email is known.
    if (!users.has(b.email)) addUser(b.email, b.password, ['shopper']);
    return send(res, 202, { status: 'accepted', detail: 'check your inbox' });
  }
  if (m === 'POST' && p === '/auth/login') {
    const b = await body(req);
    const user = users.get(b.email);
    if (!user || user.password !== b.password) return problem(res, 401, 'Authentication required', 'invalid email or password');
    return send(res, 200, issue(user), { 'cache-control': 'no-store' });
  }
  if (m === 'POST' && p === '/auth/refresh') {
    const b = await body(req);
    const held = tokens.get(b.refresh_token);
    if (!held) return problem(res, 401, 'Authentication required', 'unknown, expired or revoked refresh token');
    tokens.delete(b.refresh_token);
    return send(res, 200, issue(users.get(held.email), held.sid));
  }
  if (m === 'POST' && p === '/auth/logout') {
    const b = await body(req);
    tokens.delete(b?.refresh_token);
    res.writeHead(204).end();
    return undefined;
  }
  // ---- the signed-in account (users service: routes/me.rs, routes/account.rs) ----
  if (m === 'GET' && p === '/me') {
    const user = userById(who.sub);
    return user ? send(res, 200, publicUser(user)) : problem(res, 404, 'Not found', 'no such account');
  }
  if (m === 'POST' && p === '/me/password') {
    const b = (await body(req)) ?? {};
    const user = userById(who.sub);
    if (!user) return problem(res, 404, 'Not found', 'no such account');
    const current = typeof b.current_password === 'string' ? b.current_password : '';
    const next = typeof b.new_password === 'string' ? b.new_password : '';
    const errors = [];
    if (!current || [...current].length > 128) errors.push({ field: 'current_password', message: 'must be 1 to 128 characters' });
    if ([...next].length < 10 || [...next].length > 128 || !next.trim()) errors.push({ field: 'new_password', message: 'must be 10 to 128 characters' });
    else if (next === current) errors.push({ field: 'new_password', message: 'must differ from the current password' });
    if (errors.length) return problem(res, 422, 'The request has invalid fields', `invalid fields: ${errors.map((e) => e.field).join(', ')}`, errors);
    if ((failedPasswords.get(user.email) ?? 0) >= 5) {
      send(res, 429, { type: 'https://retail-platform.dev/problems/429', title: 'Too many requests', status: 429, detail: 'too many failed attempts; try again later', request_id: randomUUID() }, {
        'content-type': 'application/problem+json',
        'retry-after': '300',
      });
      return undefined;
    }
    if (current !== user.password) {
      failedPasswords.set(user.email, (failedPasswords.get(user.email) ?? 0) + 1);
      return problem(res, 422, 'The request has invalid fields', 'invalid fields: current_password', [{ field: 'current_password', message: 'is not correct' }]);
    }
    failedPasswords.delete(user.email);
    user.password = next;
    endSessions(user);
    if (who.sid) endedSessions.add(who.sid);
    return send(res, 200, issue(user), { 'cache-control': 'no-store' });
  }
  if (m === 'POST' && p === '/me/sessions/revoke-all') {
    const user = userById(who.sub);
    if (user) endSessions(user);
    if (who.sid) endedSessions.add(who.sid);
    res.writeHead(204).end();
    return undefined;
  }
  match = /^\/users\/([^/]+)\/sessions\/revoke-all$/.exec(p);
  if (match && m === 'POST') {
    const user = isAdmin ? userById(decodeURIComponent(match[1])) : undefined;
    if (!user) return problem(res, 404, 'Not found', 'no such account');
    endSessions(user);
    res.writeHead(204).end();
    return undefined;
  }

  if (m === 'GET' && p === '/categories') return send(res, 200, [{ id: randomUUID(), slug: 'lighting', name: 'Lighting', children: [] }]);
  if (m === 'GET' && p === '/products') {
    const q = (url.searchParams.get('q') ?? '').toLowerCase();
    const items = [...products.values()].filter((x) => x.active && (!q || `${x.name} ${x.description} ${x.brand}`.toLowerCase().includes(q)));
    return send(res, 200, { items, next_cursor: null });
  }
  if (m === 'GET' && p === '/admin/products') {
    const q = (url.searchParams.get('q') ?? '').toLowerCase();
    const status = url.searchParams.get('status') ?? 'all';
    const items = [...products.values()].filter(
      (x) => (status === 'all' || x.active === (status === 'active')) && (!q || `${x.name} ${x.description} ${x.brand}`.toLowerCase().includes(q)),
    );
    return send(res, 200, { items, next_cursor: null });
  }
  if (m === 'POST' && p === '/admin/products') {
    const b = await body(req);
    if (b.category && b.category !== 'lighting') return problem(res, 422, 'The request has invalid fields', 'invalid fields: category', [{ field: 'category', message: `no category \`${b.category}\`` }]);
    const sku = b.sku.toUpperCase();
    const product = { ...b, sku, id: randomUUID(), version: 1, created_at: now(), updated_at: now() };
    products.set(product.id, product);
    return send(res, 201, product, { etag: '"1"' });
  }
  match = /^\/admin\/products\/([^/]+)$/.exec(p);
  if (match && m === 'GET') {
    const product = products.get(match[1]);
    return product ? send(res, 200, product, { etag: `"${product.version}"` }) : problem(res, 404, 'Not found', 'no product');
  }
  if (match && m === 'PATCH') {
    const product = products.get(match[1]);
    if (!product) return problem(res, 404, 'Not found', 'no product');
    if (req.headers['if-match'] !== `"${product.version}"`) return problem(res, 412, 'Precondition failed', 'the product changed since you read it');
    const { id: _id, sku: _sku, version: _v, created_at: _c, updated_at: _u, ...patch } = (await body(req)) ?? {};
    Object.assign(product, patch, { version: product.version + 1, updated_at: now() });
    return send(res, 200, product, { etag: `"${product.version}"` });
  }
  match = /^\/products\/by-sku\/([^/]+)$/.exec(p);
  if (match && m === 'GET') {
    const sku = decodeURIComponent(match[1]).toUpperCase();
    const product = [...products.values()].find((x) => x.sku === sku && x.active);
    return product ? send(res, 200, product) : problem(res, 404, 'Not found', 'no such product');
  }
  if (p === '/admin/orders/summary') {
    const list = [...orders.values()];
    const count = (s) => list.filter((o) => o.status === s).length;
    return send(res, 200, {
      orders_placed: list.length,
      revenue: [{ amount: list.filter((o) => ['CONFIRMED', 'SHIPPED'].includes(o.status)).reduce((t, o) => t + o.total_amount, 0), currency: 'EUR' }],
      by_status: ['PENDING', 'RESERVED', 'PAID', 'CONFIRMED', 'SHIPPED', 'CANCELLED'].map((status) => ({ status, count: count(status) })).filter((x) => x.count),
      cancellations: [],
    });
  }
  if (p === '/admin/payments/summary') {
    // Everything in memory is from today; one currency.
    const ledger = [...payments.values()].flatMap((x) => x.ledger);
    if (!ledger.length) return send(res, 200, { currencies: [] });
    const of = (kind) => ledger.filter((e) => e.kind === kind);
    const captured = of('capture').reduce((t, e) => t + e.amount, 0);
    const refunded = of('refund').reduce((t, e) => t + e.amount, 0);
    return send(res, 200, { currencies: [{ currency: 'EUR', captured, refunded, net: captured - refunded, captures: of('capture').length, refunds: of('refund').length }] });
  }
  if (p === '/admin/inventory/reservations') return send(res, 200, { items: [], next_cursor: null });
  if (p === '/admin/inventory') {
    const items = [...stock.values()].map((s) => ({ ...s, available: s.on_hand - s.reserved, low: s.on_hand - s.reserved <= s.low_threshold }));
    return send(res, 200, { items: url.searchParams.get('low_only') === 'true' ? items.filter((i) => i.low) : items, next_cursor: null });
  }
  match = /^\/(admin\/)?inventory\/([^/]+)$/.exec(p);
  if (match) {
    const sku = decodeURIComponent(match[2]).toUpperCase();
    const level = stock.get(sku);
    if (!match[1]) return send(res, 200, { sku, available: level ? level.on_hand - level.reserved : 0, in_stock: Boolean(level && level.on_hand > level.reserved) });
    if (m === 'GET') return level ? send(res, 200, level) : problem(res, 404, 'Not found', 'this SKU was never stocked');
    const b = await body(req);
    if (!b.reason?.trim()) return problem(res, 422, 'The request has invalid fields', 'invalid fields: reason', [{ field: 'reason', message: 'must be 1 to 200 characters' }]);
    const s = level ?? { sku, on_hand: 0, reserved: 0, low_threshold: 5 };
    s.on_hand = b.on_hand ?? s.on_hand + (b.adjust ?? 0);
    if (b.low_threshold !== undefined) s.low_threshold = b.low_threshold;
    stock.set(sku, s);
    return send(res, 200, s);
  }
  match = /^\/cart\/lines\/([^/]+)$/.exec(p);
  if (match && m === 'PUT') {
    const sku = decodeURIComponent(match[1]).toUpperCase();
    const product = [...products.values()].find((x) => x.sku === sku && x.active);
    if (!product) return problem(res, 422, 'The request has invalid fields', 'invalid fields: sku', [{ field: 'sku', message: 'no product with this SKU is for sale' }]);
    const b = await body(req);
    const cart = carts.get(who.sub) ?? [];
    cart.push({ sku, product_id: product.id, name: product.name, quantity: b.quantity, unit_amount: product.price.amount });
    carts.set(who.sub, cart);
    return send(res, 200, { lines: cart });
  }
  if (m === 'POST' && p === '/checkout') {
    const lines = carts.get(who.sub) ?? [];
    carts.delete(who.sub);
    const total = lines.reduce((t, l) => t + l.unit_amount * l.quantity, 0);
    const email = [...users.values()].find((u) => u.id === who.sub)?.email;
    const order = {
      id: randomUUID(),
      customer_id: who.sub,
      status: 'PENDING',
      total_amount: total,
      created_at: now(),
      updated_at: now(),
      lines,
      contact: { email, name: 'Shopper', locale: 'en' },
      timeline: [],
    };
    step(order, 'placed', 'PENDING', { lines: lines.length });
    orders.set(order.id, order);
    runSaga(order);
    return send(res, 202, { order_id: order.id, status: 'PENDING', total: { amount: total, currency: 'EUR' } }, { location: `/api/v1/orders/${order.id}` });
  }
  if (p === '/admin/orders') {
    const customer = url.searchParams.get('customer_id');
    const items = [...orders.values()].filter((o) => !customer || o.customer_id === customer).reverse().map(summaryOf);
    return send(res, 200, { items, next_cursor: null });
  }
  match = /^\/admin\/orders\/([^/]+)$/.exec(p);
  if (match) {
    const o = orders.get(match[1]);
    if (!o) return problem(res, 404, 'Not found', 'no such order');
    return send(res, 200, { ...summaryOf(o), total: { amount: o.total_amount, currency: 'EUR' }, lines: o.lines, contact: o.contact, payment_id: payments.get(o.id)?.id ?? null, carrier: null, tracking_number: null, timeline: o.timeline });
  }
  if (p === '/admin/payments') return send(res, 200, { items: [...payments.values()].map(({ ledger: _l, ...x }) => x), next_cursor: null });
  match = /^\/admin\/payments\/([^/]+)(\/refunds)?$/.exec(p);
  if (match) {
    const pay = payments.get(match[1]);
    if (!pay) return problem(res, 404, 'Not found', 'no payment for this order');
    if (!match[2]) return send(res, 200, { ...pay, balance: balance(pay.ledger) });
    if (!req.headers['idempotency-key']) return problem(res, 400, 'The request could not be read', 'missing Idempotency-Key', [{ field: 'Idempotency-Key', message: 'missing' }]);
    const b = await body(req);
    const left = balance(pay.ledger).captured - balance(pay.ledger).refunded;
    const amount = b.amount ?? left;
    if (amount <= 0 || amount > left) return problem(res, 422, 'The request has invalid fields', 'invalid fields: amount', [{ field: 'amount', message: `must be 1 to ${left}` }]);
    const refund = { id: randomUUID(), order_id: pay.order_id, amount, currency: 'EUR', reason: b.reason };
    pay.ledger.push({ id: pay.ledger.length + 1, kind: 'refund', amount, currency: 'EUR', psp_reference: pay.psp_reference, refund_id: refund.id, created_at: now() });
    const order = orders.get(pay.order_id);
    setTimeout(() => {
      step(order, 'payment_refunded', order.status, { amount });
      emails.push({
        id: randomUUID(),
        source: 'shop@retail-platform.dev',
        destinations: { ToAddresses: [order.contact.email] },
        subject: `Refund for order ${order.id}`,
        body: `Hello,\n\nwe refunded €${(amount / 100).toFixed(2)} for your order ${order.id}.\n\nThe retail-platform team\n`,
      });
    }, 1000);
    return send(res, 201, refund);
  }
  if (p === '/admin/webhooks') return send(res, 200, { items: [], next_cursor: null });
  match = /^\/admin\/dead-letters\/([^/]+)$/.exec(p);
  if (match) return send(res, 200, { items: [{ queue: `${match[1]}.dlq`, depth: 0 }] });
  return problem(res, 404, 'Not found', `the fake platform has no ${m} ${p}`);
}

async function serveAdmin(req, res, url) {
  const rel = url.pathname.replace(/^\/admin\/?/, '');
  const isAsset = rel.startsWith('assets/');
  const file = isAsset ? path.join(DIST, rel) : path.join(DIST, 'index.html');
  if (!file.startsWith(DIST)) return problem(res, 404, 'Not found');
  try {
    const content = await readFile(file);
    const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : file.endsWith('.svg') ? 'image/svg+xml' : 'text/html; charset=utf-8';
    res.writeHead(200, {
      'content-type': type,
      'cache-control': isAsset ? 'public, max-age=31536000, immutable' : 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
    });
    res.end(content);
  } catch {
    problem(res, 404, 'Not found', url.pathname);
  }
  return undefined;
}

const gateway = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const done = url.pathname.startsWith('/api/v1/')
    ? apiRoute(req, res, url)
    : url.pathname === '/admin' || url.pathname.startsWith('/admin/')
      ? serveAdmin(req, res, url)
      : Promise.resolve(problem(res, 404, 'Not found'));
  done.catch((error) => {
    console.error(error);
    if (!res.headersSent) problem(res, 500, 'Server error');
  });
});

const moto = http.createServer((req, res) => {
  if (req.url === '/moto-api/data.json') return send(res, 200, { ses: { Message: emails }, sns: { SMS: [] } });
  return send(res, 404, {});
});

gateway.listen(PORT, '127.0.0.1', () => console.log(`fake gateway on http://127.0.0.1:${PORT}/admin/`));
moto.listen(MOTO_PORT, '127.0.0.1', () => console.log(`fake moto on http://127.0.0.1:${MOTO_PORT}/moto-api/data.json`));
