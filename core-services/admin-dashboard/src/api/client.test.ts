import { describe, expect, it, vi } from 'vitest';

import {
  ApiClient,
  NOT_ADMIN_MESSAGE,
  SESSION_ENDED_MESSAGE,
  SIGNED_OUT_EVERYWHERE_MESSAGE,
  newIdempotencyKey,
  withQuery,
  type SessionChange,
} from './client';
import { ApiError } from './problem';

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function token(roles: string[], n = 1, exp = 2_000_000_000): string {
  return `${b64url({ alg: 'EdDSA', kid: 'k1' })}.${b64url({ sub: 'user-1', exp, iat: 1, roles, sid: 's', jti: `j${n}` })}.sig`;
}

function json(status: number, body: unknown, type = 'application/json'): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
}

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fake platform: scripted answers per path, a controllable clock and timer queue. */
function harness(options: { expiresIn?: number; roles?: string[] } = {}) {
  let now = 1_000_000;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  const calls: Call[] = [];
  let refreshCount = 0;
  const routes = new Map<string, (call: Call) => Response | Promise<Response>>();
  routes.set('POST /api/v1/auth/login', () =>
    json(200, { access_token: token(options.roles ?? ['shopper', 'admin']), token_type: 'Bearer', expires_in: options.expiresIn ?? 900, refresh_token: 'r0' }),
  );
  routes.set('POST /api/v1/auth/refresh', (call) => {
    refreshCount += 1;
    const sent = (call.body as { refresh_token: string }).refresh_token;
    if (sent !== `r${refreshCount - 1}`) return json(401, { title: 'reused', status: 401 }, 'application/problem+json');
    return json(200, {
      access_token: token(['admin'], refreshCount + 1),
      token_type: 'Bearer',
      expires_in: options.expiresIn ?? 900,
      refresh_token: `r${refreshCount}`,
    });
  });
  routes.set('POST /api/v1/auth/logout', () => new Response(null, { status: 204 }));
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const call = { url, method, headers, body };
    calls.push(call);
    const path = url.split('?')[0];
    const handler = routes.get(`${method} ${path}`);
    if (!handler) return json(404, { title: 'Not found', status: 404 }, 'application/problem+json');
    return handler(call);
  });
  const client = new ApiClient({
    fetch: fetchImpl as unknown as typeof fetch,
    now: () => now,
    setTimer: (fn, ms) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (id) => {
      const at = timers.findIndex((t) => t.id === id);
      if (at >= 0) timers.splice(at, 1);
    },
  });
  return {
    client,
    calls,
    routes,
    timers,
    refreshes: () => refreshCount,
    advance: async (ms: number) => {
      now += ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers.splice(timers.indexOf(due), 1);
        due.fn();
        await new Promise((r) => setTimeout(r, 0));
        await new Promise((r) => setTimeout(r, 0));
      }
    },
    now: () => now,
  };
}

describe('sign in', () => {
  it('keeps the session in memory and schedules a refresh 60 s before expiry', async () => {
    const h = harness({ expiresIn: 900 });
    const session = await h.client.login('admin@example.com', 'secret-password');
    expect(session.claims.roles).toContain('admin');
    expect(session.expiresAt).toBe(h.now() + 900_000);
    expect(h.timers).toHaveLength(1);
    expect(h.timers[0]?.at).toBe(h.now() + 840_000);
    expect(h.calls[0]?.body).toEqual({ email: 'admin@example.com', password: 'secret-password' });
  });

  it('refuses a shopper account and signs it straight out on the server', async () => {
    const h = harness({ roles: ['shopper'] });
    const error = await h.client.login('shopper@example.com', 'secret-password').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(403);
    expect((error as ApiError).errorsFor('email')).toEqual([NOT_ADMIN_MESSAGE]);
    expect(h.client.current()).toBeNull();
    await Promise.resolve();
    expect(h.calls.some((c) => c.url.endsWith('/auth/logout') && (c.body as { refresh_token: string }).refresh_token === 'r0')).toBe(true);
  });

  it('passes on the problem of a failed login', async () => {
    const h = harness();
    h.routes.set('POST /api/v1/auth/login', () =>
      json(401, { type: 'https://retail-platform.dev/problems/unauthorized', title: 'Authentication required', status: 401, detail: 'invalid email or password' }, 'application/problem+json'),
    );
    const error = (await h.client.login('a@b.c', 'x').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(401);
    expect(error.problem.detail).toBe('invalid email or password');
  });
});

describe('token refresh', () => {
  it('refreshes on the timer before expiry and reschedules', async () => {
    const h = harness({ expiresIn: 900 });
    const changes: SessionChange[] = [];
    h.client.subscribe((_s, c) => changes.push(c));
    await h.client.login('a@b.c', 'pw');
    await h.advance(840_000);
    expect(h.refreshes()).toBe(1);
    expect(h.client.current()?.refreshToken).toBe('r1');
    expect(changes.map((c) => c.kind)).toEqual(['signed-in', 'refreshed']);
    await h.advance(840_000);
    expect(h.refreshes()).toBe(2);
    expect(h.client.current()?.refreshToken).toBe('r2');
  });

  it('refreshes at half-life when tokens live less than two minutes', async () => {
    const h = harness({ expiresIn: 60 });
    await h.client.login('a@b.c', 'pw');
    expect(h.timers[0]?.at).toBe(h.now() + 30_000);
  });

  it('refreshes before a request when the token is due, once for concurrent requests', async () => {
    const h = harness({ expiresIn: 900 });
    h.routes.set('GET /api/v1/admin/orders', (call) => json(200, { items: [], next_cursor: null, auth: call.headers.Authorization }));
    await h.client.login('a@b.c', 'pw');
    h.timers.length = 0; // the timer did not fire (tab asleep)
    await h.advance(850_000);
    const [a, b] = await Promise.all([h.client.get<{ auth: string }>('/admin/orders'), h.client.get<{ auth: string }>('/admin/orders')]);
    expect(h.refreshes()).toBe(1);
    expect(a.auth).toBe(`Bearer ${h.client.current()?.accessToken}`);
    expect(b.auth).toBe(a.auth);
  });

  it('on a 401 refreshes once and retries the request', async () => {
    const h = harness();
    let first = true;
    h.routes.set('GET /api/v1/admin/orders/x', () => {
      if (first) {
        first = false;
        return json(401, { title: 'Authentication required', status: 401 }, 'application/problem+json');
      }
      return json(200, { id: 'x' });
    });
    await h.client.login('a@b.c', 'pw');
    await expect(h.client.get('/admin/orders/x')).resolves.toEqual({ id: 'x' });
    expect(h.refreshes()).toBe(1);
  });

  it('signs out with a reason when the refresh token is refused', async () => {
    const h = harness();
    const changes: SessionChange[] = [];
    h.client.subscribe((_s, c) => changes.push(c));
    h.routes.set('POST /api/v1/auth/refresh', () => json(401, { title: 'Authentication required', status: 401 }, 'application/problem+json'));
    await h.client.login('a@b.c', 'pw');
    await h.advance(840_000);
    expect(h.client.current()).toBeNull();
    expect(changes.at(-1)).toEqual({ kind: 'signed-out', reason: SESSION_ENDED_MESSAGE });
  });

  it('retries a background refresh that hit a network error', async () => {
    const h = harness();
    let fail = true;
    const ok = h.routes.get('POST /api/v1/auth/refresh');
    h.routes.set('POST /api/v1/auth/refresh', (call) => {
      if (fail) {
        fail = false;
        throw new TypeError('Failed to fetch');
      }
      return ok!(call);
    });
    await h.client.login('a@b.c', 'pw');
    await h.advance(840_000);
    expect(h.client.current()?.refreshToken).toBe('r0');
    await h.advance(10_000);
    expect(h.client.current()?.refreshToken).toBe('r1');
  });

  it('sign out clears the timer and revokes the refresh token', async () => {
    const h = harness();
    await h.client.login('a@b.c', 'pw');
    await h.client.logout();
    expect(h.client.current()).toBeNull();
    expect(h.timers).toHaveLength(0);
    expect(h.calls.at(-1)?.url).toBe('/api/v1/auth/logout');
  });
});

describe('account calls that end sessions', () => {
  const NEW_SESSION = { access_token: token(['shopper', 'admin'], 77), token_type: 'Bearer', expires_in: 600, refresh_token: 'pw-r' };

  it('adopts the tokens of a password change: new session, new refresh token, timer and listeners', async () => {
    const h = harness({ expiresIn: 900 });
    const changes: SessionChange[] = [];
    h.client.subscribe((_s, c) => changes.push(c));
    h.routes.set('POST /api/v1/me/password', () => json(200, NEW_SESSION));
    const old = await h.client.login('a@b.c', 'pw');
    const session = await h.client.replaceSession('/me/password', { current_password: 'old-password', new_password: 'new-password-1' });
    const call = h.calls.at(-1)!;
    expect(call.url).toBe('/api/v1/me/password');
    expect(call.method).toBe('POST');
    expect(call.body).toEqual({ current_password: 'old-password', new_password: 'new-password-1' });
    expect(call.headers.Authorization).toBe(`Bearer ${old.accessToken}`);
    expect(h.client.current()).toBe(session);
    expect(session.accessToken).toBe(NEW_SESSION.access_token);
    expect(session.accessToken).not.toBe(old.accessToken);
    expect(session.refreshToken).toBe('pw-r');
    expect(session.expiresAt).toBe(h.now() + 600_000);
    // One timer, for the new session (60 s before its expiry), not the old one's.
    expect(h.timers.map((t) => t.at)).toEqual([h.now() + 540_000]);
    expect(changes.map((c) => c.kind)).toEqual(['signed-in', 'signed-in']);

    // The next refresh presents the new refresh token.
    h.routes.set('POST /api/v1/auth/refresh', (c) =>
      (c.body as { refresh_token: string }).refresh_token === 'pw-r'
        ? json(200, { access_token: token(['admin'], 78), token_type: 'Bearer', expires_in: 600, refresh_token: 'pw-r2' })
        : json(401, { title: 'revoked', status: 401 }, 'application/problem+json'),
    );
    await h.advance(540_000);
    expect(h.calls.filter((c) => c.url.endsWith('/auth/refresh')).map((c) => c.body)).toEqual([{ refresh_token: 'pw-r' }]);
    expect(h.client.current()?.refreshToken).toBe('pw-r2');
  });

  it('refuses adopted tokens of a non-admin and signs out', () => {
    const h = harness();
    const changes: SessionChange[] = [];
    return h.client.login('a@b.c', 'pw').then(() => {
      h.client.subscribe((_s, c) => changes.push(c));
      expect(() => h.client.adoptTokens({ ...NEW_SESSION, access_token: token(['shopper'], 9) })).toThrow(ApiError);
      expect(h.client.current()).toBeNull();
      expect(h.timers).toHaveLength(0);
      expect(changes).toEqual([{ kind: 'signed-out', reason: NOT_ADMIN_MESSAGE }]);
      expect(h.calls.at(-1)).toMatchObject({ url: '/api/v1/auth/logout', body: { refresh_token: 'pw-r' } });
    });
  });

  it('does not sign out when the old refresh token is refused while the password change runs', async () => {
    const h = harness({ expiresIn: 900 });
    const changes: SessionChange[] = [];
    h.client.subscribe((_s, c) => changes.push(c));
    let answer: (r: Response) => void = () => undefined;
    h.routes.set('POST /api/v1/me/password', () => new Promise<Response>((resolve) => (answer = resolve)));
    h.routes.set('POST /api/v1/auth/refresh', () => json(401, { title: 'revoked', status: 401 }, 'application/problem+json'));
    await h.client.login('a@b.c', 'pw');
    const changing = h.client.replaceSession('/me/password', { current_password: 'old-password', new_password: 'new-password-1' });
    await h.advance(840_000); // the refresh timer fires; the server already revoked the session
    expect(h.calls.some((c) => c.url.endsWith('/auth/refresh'))).toBe(true);
    expect(h.client.current()?.refreshToken).toBe('r0');
    answer(json(200, NEW_SESSION));
    await changing;
    expect(h.client.current()?.refreshToken).toBe('pw-r');
    expect(changes.map((c) => c.kind)).toEqual(['signed-in', 'signed-in']);
  });

  it('passes on a 422 and keeps the session; a 401 (session already over) signs out', async () => {
    const h = harness();
    h.routes.set('POST /api/v1/me/password', () =>
      json(422, { title: 'The request has invalid fields', status: 422, errors: [{ field: 'current_password', message: 'is not correct' }] }, 'application/problem+json'),
    );
    await h.client.login('a@b.c', 'pw');
    const invalid = (await h.client.replaceSession('/me/password', { current_password: 'x', new_password: 'new-password-1' }).catch((e: unknown) => e)) as ApiError;
    expect(invalid.status).toBe(422);
    expect(invalid.errorsFor('current_password')).toEqual(['is not correct']);
    expect(h.client.current()?.refreshToken).toBe('r0');

    const changes: SessionChange[] = [];
    h.client.subscribe((_s, c) => changes.push(c));
    h.routes.set('POST /api/v1/me/password', () => json(401, { title: 'Authentication required', status: 401 }, 'application/problem+json'));
    h.routes.set('POST /api/v1/auth/refresh', () => json(401, { title: 'revoked', status: 401 }, 'application/problem+json'));
    const ended = (await h.client.replaceSession('/me/password', { current_password: 'x', new_password: 'new-password-1' }).catch((e: unknown) => e)) as ApiError;
    expect(ended.status).toBe(401);
    expect(h.client.current()).toBeNull();
    expect(changes).toEqual([{ kind: 'signed-out', reason: SESSION_ENDED_MESSAGE }]);
  });

  it('reads Retry-After of a 429', async () => {
    const h = harness();
    h.routes.set(
      'POST /api/v1/me/password',
      () =>
        new Response(JSON.stringify({ title: 'Too many requests', status: 429, detail: 'too many failed attempts' }), {
          status: 429,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '120' },
        }),
    );
    await h.client.login('a@b.c', 'pw');
    const error = (await h.client.replaceSession('/me/password', {}).catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(429);
    expect(error.problem.retry_after_seconds).toBe(120);
    expect(h.client.current()).not.toBeNull();
  });

  it('signs out everywhere: revoke-all, then a local sign-out with a reason whatever /auth/logout answers', async () => {
    const h = harness();
    h.routes.set('POST /api/v1/me/sessions/revoke-all', () => new Response(null, { status: 204 }));
    h.routes.set('POST /api/v1/auth/logout', () => json(401, { title: 'revoked', status: 401 }, 'application/problem+json'));
    const session = await h.client.login('a@b.c', 'pw');
    const changes: SessionChange[] = [];
    h.client.subscribe((_s, c) => changes.push(c));
    await h.client.signOutEverywhere('/me/sessions/revoke-all');
    const revoke = h.calls.find((c) => c.url === '/api/v1/me/sessions/revoke-all');
    expect(revoke?.method).toBe('POST');
    expect(revoke?.headers.Authorization).toBe(`Bearer ${session.accessToken}`);
    expect(h.calls.at(-1)).toMatchObject({ url: '/api/v1/auth/logout', body: { refresh_token: 'r0' } });
    expect(h.client.current()).toBeNull();
    expect(h.timers).toHaveLength(0);
    expect(changes).toEqual([{ kind: 'signed-out', reason: SIGNED_OUT_EVERYWHERE_MESSAGE }]);
  });

  it('stays signed in when revoke-all fails', async () => {
    const h = harness();
    h.routes.set('POST /api/v1/me/sessions/revoke-all', () =>
      json(503, { title: 'Service unavailable', status: 503, detail: 'not every session could be ended; try again' }, 'application/problem+json'),
    );
    await h.client.login('a@b.c', 'pw');
    const error = (await h.client.signOutEverywhere('/me/sessions/revoke-all').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(503);
    expect(h.client.current()?.refreshToken).toBe('r0');
    expect(h.calls.some((c) => c.url.endsWith('/auth/logout'))).toBe(false);
  });
});

describe('requests', () => {
  it('sends JSON with the bearer token and extra headers, and reads problem+json errors', async () => {
    const h = harness();
    h.routes.set('POST /api/v1/admin/products', () =>
      json(
        422,
        {
          type: 'https://retail-platform.dev/problems/validation',
          title: 'The request has invalid fields',
          status: 422,
          detail: 'invalid fields: sku, price.amount',
          request_id: 'req-1',
          errors: [
            { field: 'sku', message: 'must not be empty' },
            { field: 'price.amount', message: 'must not be negative' },
          ],
        },
        'application/problem+json',
      ),
    );
    await h.client.login('a@b.c', 'pw');
    const error = (await h.client.request('POST', '/admin/products', { body: { sku: '' }, headers: { 'If-Match': '"3"' } }).catch((e: unknown) => e)) as ApiError;
    const call = h.calls.at(-1)!;
    expect(call.headers.Authorization).toMatch(/^Bearer /);
    expect(call.headers['Content-Type']).toBe('application/json');
    expect(call.headers['If-Match']).toBe('"3"');
    expect(error.status).toBe(422);
    expect(error.errorsFor('price')).toEqual(['amount: must not be negative']);
    expect(error.errorsFor('sku')).toEqual(['must not be empty']);
    expect(error.problem.request_id).toBe('req-1');
  });

  it('turns a network failure into an ApiError with status 0', async () => {
    const h = harness();
    h.routes.set('GET /api/v1/admin/payments', () => {
      throw new TypeError('Failed to fetch');
    });
    await h.client.login('a@b.c', 'pw');
    const error = (await h.client.get('/admin/payments').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.problem.title).toBe('Could not reach the server');
  });

  it('answers undefined for 204', async () => {
    const h = harness();
    h.routes.set('DELETE /api/v1/admin/dead-letters/orders/q/1', () => new Response(null, { status: 204 }));
    await h.client.login('a@b.c', 'pw');
    await expect(h.client.request('DELETE', '/admin/dead-letters/orders/q/1')).resolves.toBeUndefined();
  });
});

describe('helpers', () => {
  it('builds query strings without empty values', () => {
    expect(withQuery('/admin/orders', { status: 'CONFIRMED', cursor: null, limit: 20, q: '', x: undefined })).toBe('/admin/orders?status=CONFIRMED&limit=20');
    expect(withQuery('/products', { q: 'a b&c' })).toBe('/products?q=a+b%26c');
    expect(withQuery('/products')).toBe('/products');
  });

  it('makes v4 UUIDs for idempotency keys', () => {
    const a = newIdempotencyKey();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newIdempotencyKey()).not.toBe(a);
  });
});
