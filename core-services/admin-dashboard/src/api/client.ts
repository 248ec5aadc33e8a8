/**
 * The one way the dashboard talks to the platform: same-origin calls to `/api/v1/...` through
 * the gateway with the admin's bearer token.
 *
 * Tokens live in memory only (never in storage a script could read later). The access token is
 * refreshed shortly before it expires (60 s by default; half its lifetime when it is shorter)
 * by a timer, and also on demand when a request finds it about to expire or gets a 401. One
 * refresh runs at a time: the refresh token rotates on every use and presenting a spent one
 * revokes the whole session, so two concurrent refreshes must never happen.
 */

import { decodeClaims, isAdmin, type Claims } from './jwt';
import { ApiError, networkError, parseProblem } from './problem';

/** OAuth 2.0 token response of `/auth/login` and `/auth/refresh`. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
}

/** A signed-in admin. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds (our clock) at which the tokens were received. */
  issuedAt: number;
  /** Epoch milliseconds (our clock) at which the access token stops working. */
  expiresAt: number;
  claims: Claims;
}

/** Why the session changed (for the sign-in screen's message). */
export type SessionChange =
  | { kind: 'signed-in' }
  | { kind: 'refreshed' }
  | { kind: 'signed-out'; reason?: string };

type Listener = (session: Session | null, change: SessionChange) => void;

/** Query parameters; `undefined`, `null` and `''` are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON unless it is a string (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
  contentType?: string;
  signal?: AbortSignal;
}

/** A response with its headers (for `ETag`, `Location`). */
export interface FullResponse<T> {
  status: number;
  data: T;
  headers: Headers;
}

export interface ClientOptions {
  fetch?: typeof fetch;
  now?: () => number;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Refresh this long before expiry (default 60 s). */
  refreshLeewayMs?: number;
  /** Retry a failed background refresh after this long (default 10 s). */
  retryDelayMs?: number;
}

export const API_PREFIX = '/api/v1';

/** Builds `path?query` leaving out empty values. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

/** A fresh random UUID (v4) for `Idempotency-Key`, also outside secure contexts. */
export function newIdempotencyKey(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const NOT_ADMIN_MESSAGE = 'This is not an administrator account. Sign in with an admin account.';
export const SESSION_ENDED_MESSAGE = 'Your session has ended. Sign in again.';

export class ApiClient {
  private session: Session | null = null;
  private refreshing: Promise<Session> | null = null;
  private timer: unknown = null;
  private readonly listeners = new Set<Listener>();
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly leewayMs: number;
  private readonly retryDelayMs: number;

  constructor(options: ClientOptions = {}) {
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.now = options.now ?? (() => Date.now());
    this.setTimer = options.setTimer ?? ((cb, ms) => globalThis.setTimeout(cb, ms));
    this.clearTimer = options.clearTimer ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
    this.leewayMs = options.refreshLeewayMs ?? 60_000;
    this.retryDelayMs = options.retryDelayMs ?? 10_000;
  }

  /** The current session, if signed in. */
  current(): Session | null {
    return this.session;
  }

  /** Calls `listener` on every sign-in, refresh and sign-out; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: SessionChange): void {
    for (const listener of this.listeners) listener(this.session, change);
  }

  /** How long before expiry to refresh a token that lives `lifetimeMs`. */
  leewayFor(lifetimeMs: number): number {
    return Math.min(this.leewayMs, Math.max(0, lifetimeMs / 2));
  }

  /** Epoch ms at which the session should be refreshed. */
  refreshDueAt(session: Session): number {
    const lifetime = Math.max(0, session.expiresAt - session.issuedAt);
    return session.expiresAt - this.leewayFor(lifetime);
  }

  private toSession(tokens: TokenResponse): Session {
    const claims = decodeClaims(tokens.access_token);
    if (!claims) {
      throw new ApiError({
        type: 'about:blank',
        title: 'Unexpected answer from the server',
        status: 0,
        detail: 'the access token could not be read',
        errors: [],
      });
    }
    // `expires_in` is relative, so it holds whatever our clock says; `exp` is the fallback.
    const issuedAt = this.now();
    const expiresAt =
      Number.isFinite(tokens.expires_in) && tokens.expires_in > 0 ? issuedAt + tokens.expires_in * 1000 : claims.exp * 1000;
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, issuedAt, expiresAt, claims };
  }

  private schedule(): void {
    if (this.timer !== null) {
      this.clearTimer(this.timer);
      this.timer = null;
    }
    const session = this.session;
    if (!session) return;
    // Browsers fire timers longer than 2^31-1 ms at once; tokens never live that long anyway.
    const delay = Math.min(2_147_483_647, Math.max(0, this.refreshDueAt(session) - this.now()));
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.backgroundRefresh();
    }, delay);
  }

  private async backgroundRefresh(): Promise<void> {
    if (!this.session) return;
    try {
      await this.refresh();
    } catch (error) {
      if (!this.session) return; // refresh() already signed out
      // A network blip: try again shortly while the token still works.
      if (this.session.expiresAt > this.now()) {
        this.timer = this.setTimer(() => {
          this.timer = null;
          void this.backgroundRefresh();
        }, this.retryDelayMs);
      } else if (!(error instanceof ApiError && error.status === 0)) {
        this.endSession(SESSION_ENDED_MESSAGE);
      }
    }
  }

  private endSession(reason?: string): void {
    if (this.timer !== null) {
      this.clearTimer(this.timer);
      this.timer = null;
    }
    const had = this.session !== null;
    this.session = null;
    this.refreshing = null;
    if (had) this.emit(reason === undefined ? { kind: 'signed-out' } : { kind: 'signed-out', reason });
  }

  private async post(path: string, body: unknown): Promise<Response> {
    try {
      return await this.fetchImpl(`${API_PREFIX}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, application/problem+json' },
        body: JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (cause) {
      throw networkError(cause);
    }
  }

  private static async failure(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => '');
    return new ApiError(parseProblem(response.status, response.headers.get('content-type'), text, response.headers.get('x-request-id')));
  }

  /** Signs in; refuses (and signs straight out again) an account without the admin role. */
  async login(email: string, password: string): Promise<Session> {
    const response = await this.post('/auth/login', { email, password });
    if (!response.ok) throw await ApiClient.failure(response);
    const tokens = (await response.json()) as TokenResponse;
    const session = this.toSession(tokens);
    if (!isAdmin(session.claims)) {
      // Do not leave a shopper session open on the server.
      void this.post('/auth/logout', { refresh_token: tokens.refresh_token }).catch(() => undefined);
      throw new ApiError({
        type: 'about:blank',
        title: 'Not an administrator',
        status: 403,
        detail: NOT_ADMIN_MESSAGE,
        errors: [{ field: 'email', message: NOT_ADMIN_MESSAGE }],
      });
    }
    this.session = session;
    this.schedule();
    this.emit({ kind: 'signed-in' });
    return session;
  }

  /** Signs out here and on the server (best effort). */
  async logout(): Promise<void> {
    const session = this.session;
    this.endSession();
    if (session) {
      await this.post('/auth/logout', { refresh_token: session.refreshToken }).catch(() => undefined);
    }
  }

  /** Exchanges the refresh token for new tokens; concurrent callers share one exchange. */
  refresh(): Promise<Session> {
    if (this.refreshing) return this.refreshing;
    const session = this.session;
    if (!session) {
      return Promise.reject(
        new ApiError({ type: 'about:blank', title: 'Authentication required', status: 401, detail: SESSION_ENDED_MESSAGE, errors: [] }),
      );
    }
    const run = async (): Promise<Session> => {
      const response = await this.post('/auth/refresh', { refresh_token: session.refreshToken });
      if (!response.ok) {
        const error = await ApiClient.failure(response);
        if (response.status === 401 || response.status === 400 || response.status === 403) {
          this.endSession(SESSION_ENDED_MESSAGE);
        }
        throw error;
      }
      const next = this.toSession((await response.json()) as TokenResponse);
      if (this.session !== session) {
        // Signed out (or in as someone else) while this ran.
        throw new ApiError({ type: 'about:blank', title: 'Authentication required', status: 401, detail: SESSION_ENDED_MESSAGE, errors: [] });
      }
      if (!isAdmin(next.claims)) {
        this.endSession(NOT_ADMIN_MESSAGE);
        throw new ApiError({ type: 'about:blank', title: 'Forbidden', status: 403, detail: NOT_ADMIN_MESSAGE, errors: [] });
      }
      this.session = next;
      this.schedule();
      this.emit({ kind: 'refreshed' });
      return next;
    };
    const promise = run().finally(() => {
      if (this.refreshing === promise) this.refreshing = null;
    });
    this.refreshing = promise;
    return promise;
  }

  /** A token good for at least the next few seconds, refreshing first when it is due. */
  private async accessToken(): Promise<string | null> {
    const session = this.session;
    if (!session) return null;
    if (this.refreshing || this.now() >= this.refreshDueAt(session)) {
      try {
        return (await this.refresh()).accessToken;
      } catch (error) {
        // Still usable? Then go ahead with it and let the server decide.
        if (this.session && this.session.expiresAt > this.now() + 1_000) return this.session.accessToken;
        throw error;
      }
    }
    return session.accessToken;
  }

  private async send(method: string, path: string, options: RequestOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = {
      Accept: 'application/json, application/problem+json',
      ...options.headers,
    };
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['Content-Type'] = options.contentType ?? 'application/json';
    }
    const init: RequestInit = { method, headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) init.body = body;
    if (options.signal) init.signal = options.signal;
    try {
      return await this.fetchImpl(withQuery(`${API_PREFIX}${path}`, options.query), init);
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
      throw networkError(cause);
    }
  }

  /** Calls the API; resolves with body and headers, rejects with an ApiError. */
  async requestFull<T>(method: string, path: string, options: RequestOptions = {}): Promise<FullResponse<T>> {
    const token = await this.accessToken();
    let response = await this.send(method, path, options, token);
    if (response.status === 401 && token && this.session) {
      // The token may have been revoked or expired early: one refresh, one retry.
      try {
        const next = await this.refresh();
        response = await this.send(method, path, options, next.accessToken);
      } catch {
        // Keep the original 401 answer.
      }
      if (response.status === 401) this.endSession(SESSION_ENDED_MESSAGE);
    }
    if (!response.ok) throw await ApiClient.failure(response);
    let data: unknown = undefined;
    if (response.status !== 204) {
      const text = await response.text();
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          data = text;
        }
      }
    }
    return { status: response.status, data: data as T, headers: response.headers };
  }

  /** Calls the API; resolves with the parsed body. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.requestFull<T>(method, path, options)).data;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    const options: RequestOptions = {};
    if (query) options.query = query;
    if (signal) options.signal = signal;
    return this.request<T>('GET', path, options);
  }
}
