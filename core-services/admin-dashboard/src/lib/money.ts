/**
 * Money is integer minor units plus an ISO 4217 code everywhere in the API. Amounts are turned
 * into text and back with string arithmetic only, so no float rounding ever creeps in.
 */

import type { Money } from '../api/types';

const exponents = new Map<string, number>();

/** Digits after the decimal point for `currency` (EUR 2, JPY 0, KWD 3); 2 when unknown. */
export function currencyExponent(currency: string): number {
  const code = currency.toUpperCase();
  const cached = exponents.get(code);
  if (cached !== undefined) return cached;
  let exponent = 2;
  try {
    exponent = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    exponent = 2;
  }
  exponents.set(code, exponent);
  return exponent;
}

/** `1234, "EUR"` -> `"12.34"` (no symbol, `.` separator): the value for an input field. */
export function minorToDecimal(amount: number, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = amount < 0;
  const digits = Math.abs(Math.trunc(amount)).toString().padStart(exponent + 1, '0');
  const whole = exponent ? digits.slice(0, digits.length - exponent) : digits;
  const fraction = exponent ? digits.slice(digits.length - exponent) : '';
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** `{amount: 123456, currency: "EUR"}` -> `"€1,234.56"` in the user's locale. */
export function formatMoney(money: Money | null | undefined, locale?: string): string {
  if (!money || !Number.isFinite(money.amount)) return '—';
  const currency = (money.currency || 'EUR').toUpperCase();
  const decimal = minorToDecimal(money.amount, currency);
  try {
    const exponent = currencyExponent(currency);
    return new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      minimumFractionDigits: exponent,
      maximumFractionDigits: exponent,
    }).format(Number(decimal));
  } catch {
    return `${decimal} ${currency}`;
  }
}

/** Shorthand for order and payment rows that carry amount and currency side by side. */
export function formatAmount(amount: number, currency: string, locale?: string): string {
  return formatMoney({ amount, currency }, locale);
}

export type ParsedAmount = { ok: true; amount: number } | { ok: false; message: string };

/**
 * Reads a decimal amount typed by a person (`12`, `12.5`, `12,50`, `1 234.56`) into minor
 * units of `currency`. More decimals than the currency has is an error, not a rounding.
 */
export function parseDecimalAmount(input: string, currency: string, options: { allowNegative?: boolean } = {}): ParsedAmount {
  const text = input.trim().replace(/[\s\u00a0_']/g, '');
  if (!text) return { ok: false, message: 'enter an amount' };
  const match = /^([+-]?)(\d+)(?:[.,](\d*))?$/.exec(text);
  if (!match) return { ok: false, message: 'must be a number such as 12.50' };
  const [, sign = '', whole = '0', fraction = ''] = match;
  const exponent = currencyExponent(currency);
  if (fraction.length > exponent) {
    return {
      ok: false,
      message: exponent === 0 ? `${currency.toUpperCase()} has no minor units` : `at most ${exponent} decimal places`,
    };
  }
  const minorText = `${whole}${fraction.padEnd(exponent, '0')}`.replace(/^0+(?=\d)/, '');
  const magnitude = Number(minorText);
  if (!Number.isSafeInteger(magnitude)) return { ok: false, message: 'is too large' };
  const amount = sign === '-' ? -magnitude : magnitude;
  if (amount < 0 && !options.allowNegative) return { ok: false, message: 'must not be negative' };
  return { ok: true, amount };
}

/** Adds amounts per currency (amounts in different currencies never mix). */
export function sumByCurrency(items: readonly Money[]): Money[] {
  const totals = new Map<string, number>();
  for (const item of items) {
    const code = item.currency.toUpperCase();
    totals.set(code, (totals.get(code) ?? 0) + item.amount);
  }
  return [...totals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount]) => ({ amount, currency }));
}
