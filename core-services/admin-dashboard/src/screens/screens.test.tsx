import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it } from 'vitest';

import { ApiClient, SIGNED_OUT_EVERYWHERE_MESSAGE } from '../api/client';
import type { Me, Order } from '../api/types';
import { App } from '../App';
import { ApiProvider, NoticeProvider } from '../context';
import { navigate } from '../lib/router';
import { Account } from './Account';
import { bodyText } from './DeadLetters';
import { detailEntries, Timeline } from './OrderDetail';
import { ProviderReconciliation } from './Payments';
import { emptyFilters, flattenCategories, toSearch } from './Products';

afterEach(() => {
  cleanup();
  navigate('/', { replace: true });
});

// ---- a signed-in client against scripted answers ----

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const ADMIN_ID = '0190a0b0-0000-7000-8000-0000000000ad';

function accessToken(n: number, sub = ADMIN_ID): string {
  return `${b64url({ alg: 'EdDSA' })}.${b64url({ sub, exp: 2_000_000_000, roles: ['shopper', 'admin'], sid: `s${n}`, jti: `j${n}` })}.sig`;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': type, ...headers } });
}

interface Call {
  method: string;
  url: string;
  auth: string | undefined;
  body: unknown;
}

type Handler = (call: Call) => Response | Promise<Response>;

async function signedIn(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const all: Record<string, Handler> = {
    'POST /api/v1/auth/login': () => json(200, { access_token: accessToken(1), token_type: 'Bearer', expires_in: 900, refresh_token: 'r1' }),
    'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }),
    ...routes,
  };
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call: Call = {
      method: init?.method ?? 'GET',
      url,
      auth: headers.Authorization,
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    const handler = all[`${call.method} ${url.split('?')[0]}`];
    return handler ? handler(call) : json(404, { title: 'Not found', status: 404, detail: `no stand-in for ${call.method} ${url}` });
  };
  // No real timers: the refresh is not under test here.
  const client = new ApiClient({ fetch: fetchImpl as typeof fetch, setTimer: () => 0, clearTimer: () => undefined });
  const session = await client.login('admin@example.com', 'admin-password');
  return { client, calls, session, posts: (path: string) => calls.filter((c) => c.method === 'POST' && c.url === `/api/v1${path}`) };
}

function withClient(client: ApiClient, ui: ReactNode) {
  return render(
    <ApiProvider client={client}>
      <NoticeProvider>{ui}</NoticeProvider>
    </ApiProvider>,
  );
}

const ME: Me = {
  id: ADMIN_ID,
  email: 'admin@example.com',
  name: 'Ada Admin',
  phone: null,
  roles: ['shopper', 'admin'],
  email_verified: true,
  created_at: '2025-01-01T10:00:00Z',
};

const fieldError = (id: string) => document.getElementById(`${id}-error`)?.textContent ?? null;

function fillPasswords(current: string, next: string, repeat = next) {
  fireEvent.change(screen.getByLabelText('Current password'), { target: { value: current } });
  fireEvent.change(screen.getByLabelText('New password'), { target: { value: next } });
  fireEvent.change(screen.getByLabelText('Repeat new password'), { target: { value: repeat } });
  fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
}

describe('my account: change password', () => {
  it('checks the fields before sending anything', async () => {
    const p = await signedIn({ 'GET /api/v1/me': () => json(200, ME) });
    withClient(p.client, <Account />);
    expect((await screen.findByTestId('account-email')).textContent).toContain('admin@example.com');

    fillPasswords('old-password-1', 'short', 'something else');
    await waitFor(() => expect(screen.getByLabelText('New password').getAttribute('aria-invalid')).toBe('true'));
    expect(fieldError('pw-new')).toBe('must be 10 to 128 characters');
    expect(fieldError('pw-repeat')).toBe('does not match the new password');
    expect(fieldError('pw-current')).toBeNull();
    expect(screen.getByRole('alert').textContent).toContain('2 fields need attention');

    fillPasswords('old-password-1', 'old-password-1');
    await waitFor(() => expect(fieldError('pw-new')).toBe('must differ from the current password'));
    expect(fieldError('pw-repeat')).toBeNull();

    fillPasswords('', 'new-password-1');
    await waitFor(() => expect(fieldError('pw-current')).toBe('enter your current password'));

    expect(p.posts('/me/password')).toHaveLength(0);
  });

  it("shows the server's field errors under the field they name", async () => {
    const answers = [
      json(422, { title: 'The request has invalid fields', status: 422, detail: 'invalid fields: current_password', errors: [{ field: 'current_password', message: 'is not correct' }] }),
      json(422, { title: 'The request has invalid fields', status: 422, errors: [{ field: 'new_password', message: 'is too common' }] }),
    ];
    const p = await signedIn({ 'GET /api/v1/me': () => json(200, ME), 'POST /api/v1/me/password': () => answers.shift() ?? json(500, {}) });
    withClient(p.client, <Account />);

    fillPasswords('wrong-password', 'new-password-1');
    await waitFor(() => expect(fieldError('pw-current')).toBe('is not correct'));
    expect(screen.getByLabelText('Current password').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('New password').getAttribute('aria-invalid')).toBeNull();
    expect(fieldError('pw-new')).toBeNull();
    expect(screen.getByRole('alert').textContent).toContain('One field needs attention');
    expect(p.posts('/me/password')[0]).toMatchObject({
      auth: `Bearer ${p.session.accessToken}`,
      body: { current_password: 'wrong-password', new_password: 'new-password-1' },
    });

    fillPasswords('right-password', 'new-password-1');
    await waitFor(() => expect(fieldError('pw-new')).toBe('is too common'));
    expect(fieldError('pw-current')).toBeNull();
    // Still the same session: nothing was changed.
    expect(p.client.current()).toBe(p.session);
  });

  it('adopts the new session on success and empties the form', async () => {
    const p = await signedIn({
      'GET /api/v1/me': () => json(200, ME),
      'POST /api/v1/me/password': () => json(200, { access_token: accessToken(2), token_type: 'Bearer', expires_in: 900, refresh_token: 'r-after-change' }),
    });
    withClient(p.client, <Account />);
    fillPasswords('old-password-1', 'new-password-1');
    expect((await screen.findByTestId('password-changed')).textContent).toContain('Every other session of your account has ended');
    expect(p.client.current()?.refreshToken).toBe('r-after-change');
    expect(p.client.current()?.accessToken).toBe(accessToken(2));
    expect((screen.getByLabelText('Current password') as HTMLInputElement).value).toBe('');
    expect((screen.getByLabelText('New password') as HTMLInputElement).value).toBe('');
    expect(p.posts('/me/password')).toHaveLength(1);
  });

  it('says how long to wait after too many wrong current passwords', async () => {
    const p = await signedIn({
      'GET /api/v1/me': () => json(200, ME),
      'POST /api/v1/me/password': () => json(429, { title: 'Too many requests', status: 429, detail: 'too many failed attempts.' }, { 'retry-after': '120' }),
    });
    withClient(p.client, <Account />);
    fillPasswords('wrong-password', 'new-password-1');
    const alert = await screen.findByRole('alert');
    await waitFor(() => expect(alert.textContent).toContain('Try again in 2 minutes.'));
    expect(alert.textContent).toContain('too many failed attempts.');
    expect(p.client.current()).toBe(p.session);
  });
});

describe('my account: sign out everywhere', () => {
  it('is reached from the top bar, ends every session and shows the sign-in screen with the reason', async () => {
    const p = await signedIn({
      'GET /api/v1/me': () => json(200, ME),
      'POST /api/v1/me/sessions/revoke-all': () => new Response(null, { status: 204 }),
      // The session is gone on the server already: its logout is refused, which must not matter.
      'POST /api/v1/auth/logout': () => json(401, { title: 'Authentication required', status: 401 }),
    });
    navigate('/webhooks');
    render(<App client={p.client} />);
    fireEvent.click(screen.getByRole('link', { name: 'My account' }));
    expect(await screen.findByRole('heading', { name: 'My account', level: 1 })).toBeTruthy();
    expect(screen.getByRole('link', { name: 'My account' }).getAttribute('aria-current')).toBe('page');

    fireEvent.click(screen.getByRole('button', { name: 'Sign out everywhere…' }));
    const dialog = screen.getByRole('dialog', { name: 'Sign out everywhere?' });
    expect(p.posts('/me/sessions/revoke-all')).toHaveLength(0);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Sign out everywhere' }));

    expect(await screen.findByRole('heading', { name: 'Sign in to the admin dashboard' })).toBeTruthy();
    expect(screen.getByText(SIGNED_OUT_EVERYWHERE_MESSAGE)).toBeTruthy();
    expect(p.client.current()).toBeNull();
    expect(p.posts('/me/sessions/revoke-all')).toEqual([{ method: 'POST', url: '/api/v1/me/sessions/revoke-all', auth: `Bearer ${p.session.accessToken}`, body: undefined }]);
    expect(p.posts('/auth/logout').map((c) => c.body)).toEqual([{ refresh_token: 'r1' }]);
  });

  it('stays signed in and shows the problem when the server could not end every session', async () => {
    const p = await signedIn({
      'GET /api/v1/me': () => json(200, ME),
      'POST /api/v1/me/sessions/revoke-all': () => json(503, { title: 'Service unavailable', status: 503, detail: 'not every session could be ended; try again' }),
    });
    navigate('/account');
    render(<App client={p.client} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out everywhere…' }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Sign out everywhere' }));
    const alert = await within(screen.getByRole('dialog')).findByRole('alert');
    expect(alert.textContent).toContain('not every session could be ended; try again');
    expect(p.client.current()).toBe(p.session);
    expect(p.posts('/auth/logout')).toHaveLength(0);
  });
});

describe('order: end the customer sessions', () => {
  const ORDER_ID = '0190a0b0-1111-7000-8000-00000000abcd';
  const CUSTOMER = '0190a0b0-3333-7000-8000-000000000009';
  const order: Order = {
    id: ORDER_ID,
    customer_id: CUSTOMER,
    status: 'CONFIRMED',
    cancel_reason: null,
    total_amount: 4900,
    currency: 'EUR',
    created_at: '2025-01-01T10:00:00Z',
    updated_at: '2025-01-01T10:00:04Z',
    total: { amount: 4900, currency: 'EUR' },
    lines: [],
    contact: null,
    payment_id: null,
    carrier: null,
    tracking_number: null,
    timeline: [],
  };
  const orderRoutes = (revoke: Handler) => ({
    [`GET /api/v1/admin/orders/${ORDER_ID}`]: () => json(200, order),
    [`GET /api/v1/admin/payments/${ORDER_ID}`]: () => json(404, { title: 'Not found', status: 404 }),
    [`POST /api/v1/users/${CUSTOMER}/sessions/revoke-all`]: revoke,
  });

  it('asks first, then ends them and says so', async () => {
    const p = await signedIn(orderRoutes(() => new Response(null, { status: 204 })));
    navigate(`/orders/${ORDER_ID}`);
    render(<App client={p.client} />);
    expect((await screen.findByTestId('order-customer')).textContent).toBe(CUSTOMER);
    fireEvent.click(screen.getByRole('button', { name: "End the customer's sessions" }));
    const dialog = screen.getByRole('dialog', { name: "End the customer's sessions?" });
    expect(dialog.textContent).toContain(CUSTOMER);
    expect(p.calls.some((c) => c.url.includes('/sessions/'))).toBe(false);
    fireEvent.click(within(dialog).getByRole('button', { name: 'End sessions' }));

    expect(await screen.findByText(`Every session of customer ${CUSTOMER} has ended; they must sign in again.`)).toBeTruthy();
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(p.calls.filter((c) => c.url.includes('/sessions/'))).toEqual([
      { method: 'POST', url: `/api/v1/users/${CUSTOMER}/sessions/revoke-all`, auth: `Bearer ${p.session.accessToken}`, body: undefined },
    ]);
    // The admin's own session is untouched.
    expect(p.client.current()).toBe(p.session);
  });

  it("shows the problem's detail when it fails", async () => {
    const p = await signedIn(orderRoutes(() => json(503, { title: 'Service unavailable', status: 503, detail: 'not every session could be ended; try again' })));
    navigate(`/orders/${ORDER_ID}`);
    render(<App client={p.client} />);
    fireEvent.click(await screen.findByRole('button', { name: "End the customer's sessions" }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'End sessions' }));
    const alert = await within(screen.getByRole('dialog')).findByRole('alert');
    expect(alert.textContent).toContain('Service unavailable');
    expect(alert.textContent).toContain('not every session could be ended; try again');
    expect(screen.queryByText(/has ended; they must sign in again/)).toBeNull();
  });
});

describe('payments: reconciliation with Stripe', () => {
  it('asks for the last 24 hours and says when the ledger and Stripe agree', async () => {
    const p = await signedIn({
      'GET /api/v1/admin/payments/reconciliation': () =>
        json(200, { from: 'a', to: 'b', payments_checked: 3, intents_checked: 3, differences: [] }),
    });
    withClient(p.client, <ProviderReconciliation />);
    expect(p.calls.some((c) => c.url.includes('reconciliation'))).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Check the last 24 hours' }));
    expect((await screen.findByRole('status')).textContent).toBe('Ledger and Stripe agree: 3 payments, 3 PaymentIntents.');
    const call = p.calls.find((c) => c.url.includes('reconciliation'));
    const query = new URLSearchParams(call?.url.split('?')[1]);
    const from = Date.parse(query.get('from') ?? '');
    const to = Date.parse(query.get('to') ?? '');
    expect(to - from).toBe(24 * 60 * 60 * 1000 + 60_000);
  });

  it('lists each difference, and shows the problem when Stripe cannot be read', async () => {
    let answers = 0;
    const p = await signedIn({
      'GET /api/v1/admin/payments/reconciliation': () =>
        answers++ === 0
          ? json(200, {
              from: 'a',
              to: 'b',
              payments_checked: 2,
              intents_checked: 3,
              differences: [
                { kind: 'unknown_to_ledger', payment_id: null, order_id: null, intent_id: 'pi_x', ours: 'no payment', provider: 'requires_capture 999 EUR' },
                { kind: 'captured', payment_id: 'p', order_id: '0190a0b0-1111-7000-8000-00000000abcd', intent_id: 'pi_y', ours: '3599', provider: '3600' },
              ],
            })
          : json(503, { title: 'Service unavailable', status: 503, detail: 'could not read the provider' }),
    });
    withClient(p.client, <ProviderReconciliation />);
    fireEvent.click(screen.getByRole('button', { name: 'Check the last 24 hours' }));
    expect((await screen.findByRole('status')).textContent).toBe('2 differences in 2 payments and 3 PaymentIntents.');
    const table = screen.getByRole('table', { name: 'Differences between the ledger and Stripe' });
    expect(within(table).getByText('unknown to ledger')).toBeTruthy();
    expect(within(table).getByText('3599')).toBeTruthy();
    expect(within(table).getByText('pi_y')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Check the last 24 hours' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('could not read the provider');
  });
});

describe('order timeline', () => {
  it('shows amounts as money and reasons in words', () => {
    expect(detailEntries({ payment_id: 'p1', amount: 4900, currency: 'EUR' }, 'EUR')).toEqual([
      ['payment_id', 'p1'],
      ['amount', '€49.00'],
    ]);
    expect(detailEntries({ amount: { amount: 500, currency: 'EUR' }, refund_id: 'r' }, 'EUR')).toEqual([
      ['amount', '€5.00'],
      ['refund_id', 'r'],
    ]);
    expect(detailEntries({ reason: 'out_of_stock' }, 'EUR')).toEqual([['reason', 'Out of stock']]);
    expect(detailEntries(null, 'EUR')).toEqual([]);
  });

  it('lists the saga step by step in order', () => {
    render(
      <Timeline
        currency="EUR"
        steps={[
          { step: 'placed', status: 'PENDING', detail: {}, event_id: null, at: '2025-01-01T10:00:00Z' },
          { step: 'stock_reserved', status: 'RESERVED', detail: { reservation_id: 'r1' }, event_id: 'e2', at: '2025-01-01T10:00:01Z' },
          { step: 'confirmed', status: 'CONFIRMED', detail: {}, event_id: 'e3', at: '2025-01-01T10:00:02Z' },
        ]}
      />,
    );
    const items = screen.getAllByRole('listitem');
    expect(items.map((li) => li.querySelector('strong')?.textContent)).toEqual(['Order placed', 'Stock reserved', 'Confirmed']);
    expect(screen.getByText('r1')).toBeTruthy();
  });
});

describe('helpers', () => {
  it('pretty-prints dead-letter bodies', () => {
    expect(bodyText('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(bodyText('not json')).toBe('not json');
    expect(bodyText({ b: [1] })).toBe('{\n  "b": [\n    1\n  ]\n}');
  });

  it('asks the admin product list for a state only when one is picked', () => {
    expect(toSearch(emptyFilters)).toEqual({ search: {} });
    expect(toSearch({ ...emptyFilters, status: 'inactive', q: ' lamp ' })).toEqual({ search: { status: 'inactive', q: 'lamp' } });
    const bad = toSearch({ ...emptyFilters, minPrice: '9', maxPrice: '1' });
    expect('error' in bad && bad.error.errorsFor('max_price')).toBeTruthy();
  });

  it('flattens the category tree for pickers', () => {
    expect(
      flattenCategories([{ id: '1', slug: 'a', name: 'A', children: [{ id: '2', slug: 'a-b', name: 'B', children: [] }] }]).map((c) => c.slug),
    ).toEqual(['a', 'a-b']);
  });
});
