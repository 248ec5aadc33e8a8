/**
 * RFC 9457 problem details as the platform answers them (`service-kit/src/error.rs`):
 * `type`, `title`, `status`, `detail`, `instance`, `request_id` and, for validation failures,
 * `errors: [{field, message}]` where `field` is a JSON path (`price.amount`, `image_urls[0]`)
 * or a query parameter / header name (`limit`, `Idempotency-Key`).
 */

/** One invalid input named by its JSON path. */
export interface FieldError {
  field: string;
  message: string;
}

/** The problem document, as far as it could be read. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  request_id?: string;
  errors: FieldError[];
  /** From the `Retry-After` header of a 429 or 503, in seconds. */
  retry_after_seconds?: number;
}

/** A failed API call: a problem document, or a stand-in for one when the body was not one. */
export class ApiError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'ApiError';
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }

  get fieldErrors(): FieldError[] {
    return this.problem.errors;
  }

  /** Messages about `field` itself or anything below it (`price` covers `price.amount`). */
  errorsFor(field: string): string[] {
    return errorsFor(this.problem.errors, field);
  }
}

/** Whether `path` is `field` or lies below it (`field.x`, `field[0]`). */
export function concerns(path: string, field: string): boolean {
  if (path === field) return true;
  return path.startsWith(`${field}.`) || path.startsWith(`${field}[`);
}

/** Messages of the errors that concern `field`, each prefixed with the sub-path when deeper. */
export function errorsFor(errors: FieldError[], field: string): string[] {
  return errors
    .filter((e) => concerns(e.field, field))
    .map((e) => (e.field === field ? e.message : `${e.field.slice(field.length).replace(/^\./, '')}: ${e.message}`));
}

/** Errors that concern none of `known` fields (shown at the top of a form). */
export function unmatchedErrors(errors: FieldError[], known: readonly string[]): FieldError[] {
  return errors.filter((e) => !known.some((k) => concerns(e.field, k)));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readFieldErrors(raw: unknown): FieldError[] {
  if (!Array.isArray(raw)) return [];
  const out: FieldError[] = [];
  for (const entry of raw) {
    if (!isRecord(entry)) continue;
    const field = typeof entry.field === 'string' ? entry.field : typeof entry.pointer === 'string' ? entry.pointer : '';
    const message = typeof entry.message === 'string' ? entry.message : typeof entry.detail === 'string' ? entry.detail : '';
    if (message) out.push({ field, message });
  }
  return out;
}

const STATUS_TITLES: Record<number, string> = {
  400: 'The request could not be read',
  401: 'Authentication required',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  412: 'Precondition failed',
  413: 'Request body too large',
  415: 'Unsupported media type',
  422: 'The request has invalid fields',
  428: 'Precondition required',
  429: 'Too many requests',
  500: 'Server error',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
};

/** A title for a status when the body gave none. */
export function statusTitle(status: number): string {
  return STATUS_TITLES[status] ?? (status >= 500 ? 'Server error' : `Request failed (${status})`);
}

/**
 * Reads an error response body. Accepts problem+json, plain JSON with similar fields, or text;
 * never throws, so every failure can be shown to the user.
 */
export function parseProblem(status: number, contentType: string | null, body: string, requestId?: string | null): Problem {
  const base: Problem = {
    type: 'about:blank',
    title: statusTitle(status),
    status,
    errors: [],
  };
  if (requestId) base.request_id = requestId;
  const trimmed = body.trim();
  const looksJson = (contentType ?? '').includes('json') || trimmed.startsWith('{');
  if (looksJson && trimmed) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (isRecord(parsed)) {
        const problem: Problem = { ...base };
        if (typeof parsed.type === 'string') problem.type = parsed.type;
        if (typeof parsed.title === 'string' && parsed.title) problem.title = parsed.title;
        if (typeof parsed.status === 'number') problem.status = parsed.status;
        if (typeof parsed.detail === 'string') problem.detail = parsed.detail;
        else if (typeof parsed.message === 'string') problem.detail = parsed.message;
        else if (typeof parsed.error === 'string') problem.detail = parsed.error;
        if (typeof parsed.instance === 'string') problem.instance = parsed.instance;
        if (typeof parsed.request_id === 'string') problem.request_id = parsed.request_id;
        problem.errors = readFieldErrors(parsed.errors);
        return problem;
      }
    } catch {
      // Not JSON after all: fall through to text.
    }
  }
  if (trimmed && !trimmed.startsWith('<')) {
    base.detail = trimmed.length > 300 ? `${trimmed.slice(0, 300)}…` : trimmed;
  }
  return base;
}

/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP date (seconds from `now` until then).
 * Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** "2 minutes", "45 seconds", "1 hour": a wait in words, rounded up. */
export function waitText(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds < 60) return plural(Math.max(1, Math.ceil(seconds)), 'second');
  if (seconds < 3600) return plural(Math.ceil(seconds / 60), 'minute');
  return plural(Math.ceil(seconds / 3600), 'hour');
}

/** The error for a request that never got an answer. */
export function networkError(cause: unknown): ApiError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ApiError({
    type: 'about:blank',
    title: 'Could not reach the server',
    status: 0,
    detail: `${detail}. Check your connection and try again.`,
    errors: [],
  });
}

/** Any thrown value as an ApiError (so screens have one shape to show). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error) {
    return new ApiError({ type: 'about:blank', title: 'Something went wrong', status: 0, detail: error.message, errors: [] });
  }
  return new ApiError({ type: 'about:blank', title: 'Something went wrong', status: 0, detail: String(error), errors: [] });
}

/** A client-side validation failure, shaped like the API's 422 so forms show both the same way. */
export function validationError(errors: FieldError[]): ApiError {
  return new ApiError({
    type: 'about:blank',
    title: 'Some fields need attention',
    status: 422,
    detail: `invalid fields: ${errors.map((e) => e.field).join(', ')}`,
    errors,
  });
}
