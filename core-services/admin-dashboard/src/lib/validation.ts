/**
 * Form logic: the text people type turned into API bodies, with the same rules (and the same
 * field paths) the services apply, so mistakes show next to the field before a round trip.
 * The server stays the judge: its problem+json field errors are shown the same way.
 */

import type { FieldError } from '../api/problem';
import type { AttributeValue, PasswordChange, Product, ProductInput, StockChange } from '../api/types';
import { currencyExponent, minorToDecimal, parseDecimalAmount } from './money';

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

const MAX_SKU_LEN = 64;
const MAX_NAME_CHARS = 200;
const MAX_DESCRIPTION_CHARS = 10_000;
const MAX_BRAND_CHARS = 100;
const MAX_ATTRIBUTES = 50;
const MAX_ATTRIBUTE_VALUE_CHARS = 200;
const MAX_IMAGES = 20;
const MAX_URL_LEN = 2048;

const chars = (s: string) => Array.from(s).length;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** `service-kit/src/sku.rs`: 1-64 chars, first alphanumeric, then alphanumerics and `-_.`. */
export function skuProblem(raw: string): string | null {
  const sku = raw.trim();
  if (!sku) return 'must not be empty';
  if (sku.length > MAX_SKU_LEN) return `must be at most ${MAX_SKU_LEN} characters`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(sku)) return 'must start with a letter or digit and contain only letters, digits, "-", "_" and "."';
  return null;
}

/** Category slugs: lower-case words joined by `-`. */
export function isSlug(value: string): boolean {
  return value.length > 0 && value.length <= 64 && value.split('-').every((part) => /^[a-z0-9]+$/.test(part));
}

export function isHttpUrl(url: string): boolean {
  if (!/^https?:\/\/[^/\s]/.test(url) || /\s/.test(url)) return false;
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

// ---- products ----

/** The product form as typed. */
export interface ProductForm {
  sku: string;
  name: string;
  description: string;
  brand: string;
  category: string;
  /** Decimal, in major units. */
  price: string;
  currency: string;
  /** One `name=value` per line. */
  attributes: string;
  /** One URL per line. */
  imageUrls: string;
  active: boolean;
}

export const emptyProductForm: ProductForm = {
  sku: '',
  name: '',
  description: '',
  brand: '',
  category: '',
  price: '',
  currency: 'EUR',
  attributes: '',
  imageUrls: '',
  active: true,
};

/** Text for an attribute value that reads back as the same type. */
function attributeText(value: AttributeValue): string {
  if (typeof value === 'string' && (/^-?\d+(\.\d+)?$/.test(value.trim()) || value === 'true' || value === 'false')) {
    return `"${value}"`;
  }
  return String(value);
}

export function productToForm(product: Product): ProductForm {
  return {
    sku: product.sku,
    name: product.name,
    description: product.description,
    brand: product.brand ?? '',
    category: product.category ?? '',
    price: minorToDecimal(product.price.amount, product.price.currency),
    currency: product.price.currency,
    attributes: Object.entries(product.attributes)
      .map(([k, v]) => `${k}=${attributeText(v)}`)
      .join('\n'),
    imageUrls: product.image_urls.join('\n'),
    active: product.active,
  };
}

/**
 * Reads `name=value` lines: `true`/`false` are booleans, plain numbers are numbers, a value in
 * double quotes is always text.
 */
export function parseAttributes(text: string): Validated<Record<string, AttributeValue>> {
  const out: Record<string, AttributeValue> = {};
  const errors: FieldError[] = [];
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (!line) return;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      errors.push({ field: 'attributes', message: `line ${i + 1}: write name=value` });
      return;
    }
    const key = line.slice(0, eq).trim();
    const raw = line.slice(eq + 1).trim();
    let value: AttributeValue;
    if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) value = raw.slice(1, -1);
    else if (raw === 'true' || raw === 'false') value = raw === 'true';
    else if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(raw)) value = Number(raw);
    else value = raw;
    if (!/^[a-z0-9_]{1,64}$/.test(key)) {
      errors.push({ field: `attributes.${key}`, message: "attribute names are 1-64 characters of a-z, 0-9 and '_'" });
    } else if (typeof value === 'string' && chars(value) > MAX_ATTRIBUTE_VALUE_CHARS) {
      errors.push({ field: `attributes.${key}`, message: `must be at most ${MAX_ATTRIBUTE_VALUE_CHARS} characters` });
    } else if (key in out) {
      errors.push({ field: `attributes.${key}`, message: 'is given more than once' });
    }
    out[key] = value;
  });
  if (Object.keys(out).length > MAX_ATTRIBUTES) errors.push({ field: 'attributes', message: `at most ${MAX_ATTRIBUTES} attributes` });
  return errors.length ? { ok: false, errors } : { ok: true, value: out };
}

/** Checks the form and builds the body of `POST`/`PUT /admin/products`. */
export function validateProductForm(form: ProductForm): Validated<ProductInput> {
  const errors: FieldError[] = [];
  const skuError = skuProblem(form.sku);
  if (skuError) errors.push({ field: 'sku', message: skuError });

  const name = form.name.trim();
  if (!name) errors.push({ field: 'name', message: 'must not be empty' });
  else if (chars(name) > MAX_NAME_CHARS) errors.push({ field: 'name', message: `must be at most ${MAX_NAME_CHARS} characters` });
  else if (CONTROL.test(name)) errors.push({ field: 'name', message: 'must not contain control characters' });

  if (chars(form.description) > MAX_DESCRIPTION_CHARS) {
    errors.push({ field: 'description', message: `must be at most ${MAX_DESCRIPTION_CHARS} characters` });
  }
  const brand = form.brand.trim();
  if (chars(brand) > MAX_BRAND_CHARS) errors.push({ field: 'brand', message: `must be at most ${MAX_BRAND_CHARS} characters` });
  const category = form.category.trim();
  if (category && !isSlug(category)) {
    errors.push({ field: 'category', message: "must be a category slug (lower-case words joined by '-')" });
  }

  const currency = form.currency.trim().toUpperCase();
  let amount: number | undefined;
  if (!/^[A-Z]{3}$/.test(currency)) {
    errors.push({ field: 'price.currency', message: 'must be a three-letter ISO 4217 code such as EUR' });
  } else {
    const parsed = parseDecimalAmount(form.price, currency);
    if (parsed.ok) amount = parsed.amount;
    else errors.push({ field: 'price.amount', message: parsed.message });
  }

  const attributes = parseAttributes(form.attributes);
  if (!attributes.ok) errors.push(...attributes.errors);

  const images = form.imageUrls
    .split(/\r?\n/)
    .map((u) => u.trim())
    .filter(Boolean);
  if (images.length > MAX_IMAGES) errors.push({ field: 'image_urls', message: `at most ${MAX_IMAGES} images` });
  images.forEach((url, i) => {
    if (!isHttpUrl(url) || url.length > MAX_URL_LEN) {
      errors.push({ field: `image_urls[${i}]`, message: 'must be an http(s) URL without spaces' });
    }
  });

  if (errors.length || amount === undefined || !attributes.ok) return { ok: false, errors };
  return {
    ok: true,
    value: {
      sku: form.sku.trim(),
      name,
      description: form.description,
      brand: brand || null,
      category: category || null,
      price: { amount, currency },
      attributes: attributes.value,
      image_urls: images,
      active: form.active,
    },
  };
}

// ---- stock ----

export interface StockForm {
  /** `adjust`: add or remove units; `set`: a count of units on hand. */
  mode: 'adjust' | 'set';
  quantity: string;
  reason: string;
  lowThreshold: string;
}

function wholeNumber(text: string, allowNegative: boolean): number | string {
  const t = text.trim();
  if (!t) return 'enter a number of units';
  if (!/^[+-]?\d+$/.test(t)) return 'must be a whole number';
  const n = Number(t);
  if (!Number.isSafeInteger(n) || Math.abs(n) > 2_147_483_647) return 'is too large';
  if (!allowNegative && n < 0) return 'must not be negative';
  return n;
}

/** Builds the body of `PUT /admin/inventory/{sku}`. */
export function validateStockForm(form: StockForm): Validated<StockChange> {
  const errors: FieldError[] = [];
  const field = form.mode === 'set' ? 'on_hand' : 'adjust';
  const quantity = wholeNumber(form.quantity, form.mode === 'adjust');
  if (typeof quantity === 'string') errors.push({ field, message: quantity });
  else if (form.mode === 'adjust' && quantity === 0) errors.push({ field, message: 'must not be zero' });
  const reason = form.reason.trim();
  if (!reason || reason.length > 200) errors.push({ field: 'reason', message: 'must be 1 to 200 characters' });
  let lowThreshold: number | undefined;
  if (form.lowThreshold.trim()) {
    const t = wholeNumber(form.lowThreshold, false);
    if (typeof t === 'string') errors.push({ field: 'low_threshold', message: t });
    else lowThreshold = t;
  }
  if (errors.length || typeof quantity === 'string') return { ok: false, errors };
  const change: StockChange = form.mode === 'set' ? { on_hand: quantity, reason } : { adjust: quantity, reason };
  if (lowThreshold !== undefined) change.low_threshold = lowThreshold;
  return { ok: true, value: change };
}

// ---- refunds ----

export interface RefundForm {
  mode: 'full' | 'partial';
  /** Decimal, major units (partial refunds only). */
  amount: string;
  reason: string;
}

/**
 * Builds the body of `POST /admin/payments/{order_id}/refunds`. A full refund sends no amount
 * (the API refunds everything not yet refunded). `refundable` is captured minus refunded.
 */
export function validateRefundForm(form: RefundForm, currency: string, refundable: number): Validated<{ amount?: number; reason: string }> {
  const errors: FieldError[] = [];
  const reason = form.reason.trim();
  if (!reason || reason.length > 200) errors.push({ field: 'reason', message: 'must be 1 to 200 characters' });
  let amount: number | undefined;
  if (form.mode === 'partial') {
    const parsed = parseDecimalAmount(form.amount, currency);
    if (!parsed.ok) errors.push({ field: 'amount', message: parsed.message });
    else if (parsed.amount <= 0) errors.push({ field: 'amount', message: 'must be more than zero' });
    else if (parsed.amount > refundable) {
      errors.push({ field: 'amount', message: `must be at most ${minorToDecimal(refundable, currency)} ${currency} (not yet refunded)` });
    } else amount = parsed.amount;
  } else if (refundable <= 0) {
    errors.push({ field: 'amount', message: 'nothing is left to refund' });
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: amount === undefined ? { reason } : { amount, reason } };
}

// ---- shipping ----

export function validateShipment(carrier: string, tracking: string): Validated<{ carrier?: string; tracking_number?: string }> {
  const errors: FieldError[] = [];
  const value: { carrier?: string; tracking_number?: string } = {};
  const c = carrier.trim();
  const t = tracking.trim();
  if (c.length > 100) errors.push({ field: 'carrier', message: 'must be 1 to 100 characters' });
  else if (c) value.carrier = c;
  if (t.length > 100) errors.push({ field: 'tracking_number', message: 'must be 1 to 100 characters' });
  else if (t) value.tracking_number = t;
  return errors.length ? { ok: false, errors } : { ok: true, value };
}

// ---- webhooks ----

export interface WebhookForm {
  url: string;
  eventTypes: string[];
  description: string;
}

export function validateWebhookForm(form: WebhookForm): Validated<{ url: string; event_types: string[]; description: string }> {
  const errors: FieldError[] = [];
  const url = form.url.trim();
  if (!url) errors.push({ field: 'url', message: 'must not be empty' });
  else if (!isHttpUrl(url)) errors.push({ field: 'url', message: 'must be an http(s) URL' });
  else if (url.length > MAX_URL_LEN) errors.push({ field: 'url', message: `must be at most ${MAX_URL_LEN} characters` });
  const description = form.description.trim();
  if (chars(description) > 500) errors.push({ field: 'description', message: 'must be at most 500 characters' });
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { url, event_types: [...new Set(form.eventTypes)].sort(), description } };
}

// ---- password change ----

/** `users/src/domain/account.rs`: passwords are 10 to 128 characters (Unicode scalar values). */
export const MIN_PASSWORD_CHARS = 10;
export const MAX_PASSWORD_CHARS = 128;

/** The password form as typed (never trimmed: spaces count). */
export interface PasswordForm {
  current: string;
  next: string;
  repeat: string;
}

export const emptyPasswordForm: PasswordForm = { current: '', next: '', repeat: '' };

/**
 * Builds the body of `POST /me/password` with the server's rules (`ChangePasswordInput`): the
 * current password 1-128 characters, the new one 10-128 characters, not only spaces and not the
 * current one; plus, here only, the repeated new password (`repeat_password`) must match.
 */
export function validatePasswordChange(form: PasswordForm): Validated<PasswordChange> {
  const errors: FieldError[] = [];
  if (!form.current) errors.push({ field: 'current_password', message: 'enter your current password' });
  else if (chars(form.current) > MAX_PASSWORD_CHARS) {
    errors.push({ field: 'current_password', message: `must be 1 to ${MAX_PASSWORD_CHARS} characters` });
  }
  const length = chars(form.next);
  if (length < MIN_PASSWORD_CHARS || length > MAX_PASSWORD_CHARS || !form.next.trim()) {
    errors.push({ field: 'new_password', message: `must be ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters` });
  } else if (form.next === form.current) {
    errors.push({ field: 'new_password', message: 'must differ from the current password' });
  }
  if (!form.repeat) errors.push({ field: 'repeat_password', message: 'repeat the new password' });
  else if (form.repeat !== form.next) errors.push({ field: 'repeat_password', message: 'does not match the new password' });
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { current_password: form.current, new_password: form.next } };
}

/** Whether a currency has minor units (for input hints). */
export function amountPlaceholder(currency: string): string {
  return currencyExponent(currency) === 0 ? '100' : `0.${'0'.repeat(currencyExponent(currency))}`;
}
