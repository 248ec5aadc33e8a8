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
import { ApiError, networkError, parseProblem, parseRetryAfter } from './problem';

/** OAuth 2.0 token response of `/auth/login`, `/auth/refresh` and `/me/password`. */
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
export const SIGNED_OUT_EVERYWHERE_MESSAGE =
  'You signed out everywhere: every session of your account has ended, this one included. Sign in again.';

function notAdminError(): ApiError {
  return new ApiError({
    type: 'about:blank',
    title: 'Not an administrator',
    status: 403,
    detail: NOT_ADMIN_MESSAGE,
    errors: [{ field: 'email', message: NOT_ADMIN_MESSAGE }],
  });
}

function sessionEndedError(): ApiError {
  return new ApiError({ type: 'about:blank', title: 'Authentication required', status: 401, detail: SESSION_ENDED_MESSAGE, errors: [] });
}

export class ApiClient {
  private session: Session | null = null;
  private refreshing: Promise<Session> | null = null;
  private timer: unknown = null;
  /**
   * Calls in flight that end this account's sessions on the server (a password change, "sign
   * out everywhere"). Meanwhile a refused refresh is their doing, not a reason to sign out here.
   */
  private endingSessions = 0;
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
      // A network blip: try again shortly while the token still works (or while a password
      // change runs: its answer replaces the session).
      if (this.session.expiresAt > this.now() || this.endingSessions > 0) {
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
    const problem = parseProblem(response.status, response.headers.get('content-type'), text, response.headers.get('x-request-id'));
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    if (retryAfter !== undefined) problem.retry_after_seconds = retryAfter;
    return new ApiError(problem);
  }

  /** Ends a session on the server that this client will not use (best effort). */
  private revokeQuietly(refreshToken: string): void {
    void this.post('/auth/logout', { refresh_token: refreshToken }).catch(() => undefined);
  }

  /** The session of a token response, if it belongs to an admin; else revoked and refused. */
  private admit(tokens: TokenResponse): Session {
    const session = this.toSession(tokens);
    if (!isAdmin(session.claims)) {
      // Do not leave a shopper session open on the server.
      this.revokeQuietly(tokens.refresh_token);
      throw notAdminError();
    }
    return session;
  }

  /** Makes `session` the current one: refresh timer, listeners. */
  private start(session: Session): Session {
    this.session = session;
    this.refreshing = null; // a refresh of the previous session no longer concerns anyone
    this.schedule();
    this.emit({ kind: 'signed-in' });
    return session;
  }

  /** Signs in; refuses (and signs straight out again) an account without the admin role. */
  async login(email: string, password: string): Promise<Session> {
    const response = await this.post('/auth/login', { email, password });
    if (!response.ok) throw await ApiClient.failure(response);
    const tokens = (await response.json()) as TokenResponse;
    return this.start(this.admit(tokens));
  }

  /**
   * Makes the tokens of a new session (the answer to a password change, which ended every
   * earlier session) the current session, as a sign-in does: the same admin check, refresh
   * timer and listeners (`signed-in`). Tokens of a non-admin or unreadable tokens sign out,
   * since the previous session is over anyway.
   */
  adoptTokens(tokens: TokenResponse): Session {
    let session: Session;
    try {
      session = this.admit(tokens);
    } catch (error) {
      this.endSession(error instanceof ApiError && error.status === 403 ? NOT_ADMIN_MESSAGE : SESSION_ENDED_MESSAGE);
      throw error;
    }
    return this.start(session);
  }

  /**
   * Runs `call`, which ends sessions of this account on the server. A refresh refused meanwhile
   * does not sign out; a 401 from the call itself does (the session was already over).
   */
  private async whileEndingSessions<T>(call: () => Promise<T>): Promise<T> {
    this.endingSessions += 1;
    try {
      return await call();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.endSession(SESSION_ENDED_MESSAGE);
      throw error;
    } finally {
      this.endingSessions -= 1;
    }
  }

  /**
   * POSTs `body` to an endpoint that ends every session of the account and answers the tokens of
   * a new one (`/me/password`), and adopts them as this client's session.
   */
  async replaceSession(path: string, body: unknown): Promise<Session> {
    const tokens = await this.whileEndingSessions(() => this.request<TokenResponse>('POST', path, { body }));
    if (!this.session) {
      // Signed out while the call ran: stay signed out, and end the new session too.
      if (tokens && typeof tokens.refresh_token === 'string') this.revokeQuietly(tokens.refresh_token);
      throw sessionEndedError();
    }
    return this.adoptTokens(tokens);
  }

  /**
   * POSTs to an endpoint that ends every session of the account, this one included
   * (`/me/sessions/revoke-all`), then signs out here with a reason for the sign-in screen.
   * Fails (still signed in) only when the server did not confirm.
   */
  async signOutEverywhere(path: string): Promise<void> {
    await this.whileEndingSessions(() => this.request<void>('POST', path));
    await this.logout(SIGNED_OUT_EVERYWHERE_MESSAGE);
  }

  /**
   * Signs out here and on the server (best effort: whatever the server answers, this client is
   * signed out). `reason` is passed to listeners for the sign-in screen.
   */
  async logout(reason?: string): Promise<void> {
    const session = this.session;
    this.endSession(reason);
    if (session) {
      await this.post('/auth/logout', { refresh_token: session.refreshToken }).catch(() => undefined);
    }
  }

  /** Exchanges the refresh token for new tokens; concurrent callers share one exchange. */
  refresh(): Promise<Session> {
    if (this.refreshing) return this.refreshing;
    const session = this.session;
    if (!session) return Promise.reject(sessionEndedError());
    const run = async (): Promise<Session> => {
      const response = await this.post('/auth/refresh', { refresh_token: session.refreshToken });
      if (!response.ok) {
        const error = await ApiClient.failure(response);
        // Only the session this refresh was for, and not while a call that ends sessions runs
        // (a password change answers the tokens of the next session).
        const refused = response.status === 401 || response.status === 400 || response.status === 403;
        if (refused && this.session === session && this.endingSessions === 0) {
          this.endSession(SESSION_ENDED_MESSAGE);
        }
        throw error;
      }
      const next = this.toSession((await response.json()) as TokenResponse);
      if (this.session !== session) {
        // Signed out (or in as someone else, or into a new session) while this ran.
        throw sessionEndedError();
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
      if (response.status === 401 && this.endingSessions === 0) this.endSession(SESSION_ENDED_MESSAGE);
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
