import { describe, expect, it } from 'vitest';

import { decodeClaims, isAdmin } from './jwt';
import { ApiError, concerns, errorsFor, networkError, parseProblem, parseRetryAfter, toApiError, unmatchedErrors, validationError, waitText } from './problem';

describe('parseProblem', () => {
  it('reads an RFC 9457 document with field errors as service-kit renders it', () => {
    const body = JSON.stringify({
      type: 'https://retail-platform.dev/problems/validation',
      title: 'The request has invalid fields',
      status: 422,
      detail: 'invalid fields: name, image_urls[1]',
      instance: '/admin/products',
      request_id: 'abc',
      errors: [
        { field: 'name', message: 'must not be empty' },
        { field: 'image_urls[1]', message: 'must be an http(s) URL without spaces' },
      ],
    });
    const p = parseProblem(422, 'application/problem+json', body);
    expect(p.type).toBe('https://retail-platform.dev/problems/validation');
    expect(p.instance).toBe('/admin/products');
    expect(p.request_id).toBe('abc');
    expect(p.errors).toHaveLength(2);
    expect(errorsFor(p.errors, 'image_urls')).toEqual(['[1]: must be an http(s) URL without spaces']);
  });

  it('keeps the request id header when the body has none', () => {
    expect(parseProblem(500, 'application/problem+json', '{"title":"Internal","status":500}', 'rid-9').request_id).toBe('rid-9');
  });

  it('falls back to the status for empty, text and HTML bodies', () => {
    expect(parseProblem(503, null, '')).toMatchObject({ status: 503, title: 'Service unavailable', errors: [] });
    expect(parseProblem(502, 'text/plain', 'upstream down')).toMatchObject({ title: 'Bad gateway', detail: 'upstream down' });
    expect(parseProblem(500, 'text/html', '<html><body>oops</body></html>').detail).toBeUndefined();
    expect(parseProblem(418, null, '').title).toBe('Request failed (418)');
  });

  it('survives malformed JSON and odd error entries', () => {
    expect(parseProblem(400, 'application/json', '{"title": ').status).toBe(400);
    const p = parseProblem(400, 'application/json', JSON.stringify({ title: 'x', errors: [null, 3, { field: 'a' }, { field: 'b', message: 'bad' }] }));
    expect(p.errors).toEqual([{ field: 'b', message: 'bad' }]);
  });
});

describe('field matching', () => {
  it('matches a field and everything below it, not look-alikes', () => {
    expect(concerns('price.amount', 'price')).toBe(true);
    expect(concerns('price', 'price')).toBe(true);
    expect(concerns('image_urls[0]', 'image_urls')).toBe(true);
    expect(concerns('prices', 'price')).toBe(false);
  });

  it('lists errors no form field shows', () => {
    const errors = [
      { field: 'sku', message: 'a' },
      { field: 'Idempotency-Key', message: 'missing' },
    ];
    expect(unmatchedErrors(errors, ['sku', 'name'])).toEqual([{ field: 'Idempotency-Key', message: 'missing' }]);
  });

  it('ApiError exposes status and per-field messages', () => {
    const e = validationError([{ field: 'reason', message: 'must be 1 to 200 characters' }]);
    expect(e.status).toBe(422);
    expect(e.errorsFor('reason')).toEqual(['must be 1 to 200 characters']);
    expect(e.errorsFor('amount')).toEqual([]);
  });

  it('wraps anything thrown', () => {
    expect(toApiError(new Error('boom')).problem.detail).toBe('boom');
    expect(toApiError('x')).toBeInstanceOf(ApiError);
    expect(networkError(new TypeError('Failed to fetch')).status).toBe(0);
  });
});

describe('jwt', () => {
  const enc = (v: unknown) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  it('reads roles and expiry, and tells admins apart', () => {
    const t = `${enc({ alg: 'EdDSA' })}.${enc({ sub: 'u', exp: 10, roles: ['shopper', 'admin'], name: 'Jörg' })}.s`;
    const claims = decodeClaims(t);
    expect(claims).toMatchObject({ sub: 'u', exp: 10, roles: ['shopper', 'admin'] });
    expect(isAdmin(claims)).toBe(true);
    expect(isAdmin(decodeClaims(`${enc({})}.${enc({ sub: 'u', exp: 1, roles: ['shopper'] })}.s`))).toBe(false);
  });
  it('refuses garbage', () => {
    expect(decodeClaims('not-a-token')).toBeNull();
    expect(decodeClaims('a.%%%.c')).toBeNull();
    expect(isAdmin(null)).toBe(false);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('2025-01-01T10:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 10:01:30 GMT', now)).toBe(90);
    expect(parseRetryAfter('Wed, 01 Jan 2025 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
  it('says how long to wait in words', () => {
    expect(waitText(1)).toBe('1 second');
    expect(waitText(45)).toBe('45 seconds');
    expect(waitText(60)).toBe('1 minute');
    expect(waitText(120)).toBe('2 minutes');
    expect(waitText(121)).toBe('3 minutes');
    expect(waitText(7200)).toBe('2 hours');
  });
});
