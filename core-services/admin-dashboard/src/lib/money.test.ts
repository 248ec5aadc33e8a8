import { describe, expect, it } from 'vitest';

import { currencyExponent, formatMoney, minorToDecimal, parseDecimalAmount, sumByCurrency } from './money';

describe('money', () => {
  it('knows minor units per currency', () => {
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('jpy')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
    expect(currencyExponent('???')).toBe(2);
  });

  it('formats minor units without float drift', () => {
    expect(minorToDecimal(123456, 'EUR')).toBe('1234.56');
    expect(minorToDecimal(5, 'EUR')).toBe('0.05');
    expect(minorToDecimal(0, 'EUR')).toBe('0.00');
    expect(minorToDecimal(-250, 'EUR')).toBe('-2.50');
    expect(minorToDecimal(500, 'JPY')).toBe('500');
    expect(minorToDecimal(1, 'KWD')).toBe('0.001');
    expect(formatMoney({ amount: 123456, currency: 'EUR' }, 'en-US')).toBe('€1,234.56');
    expect(formatMoney({ amount: 1999, currency: 'EUR' }, 'de-DE')).toBe('19,99\u00a0€');
    expect(formatMoney({ amount: 500, currency: 'JPY' }, 'en-US')).toBe('¥500');
    expect(formatMoney(null)).toBe('—');
  });

  it('reads typed amounts into minor units', () => {
    expect(parseDecimalAmount('12.34', 'EUR')).toEqual({ ok: true, amount: 1234 });
    expect(parseDecimalAmount('12,5', 'EUR')).toEqual({ ok: true, amount: 1250 });
    expect(parseDecimalAmount(' 1 234.00 ', 'EUR')).toEqual({ ok: true, amount: 123400 });
    expect(parseDecimalAmount('0.29', 'EUR')).toEqual({ ok: true, amount: 29 });
    expect(parseDecimalAmount('19.99', 'EUR')).toEqual({ ok: true, amount: 1999 });
    expect(parseDecimalAmount('7', 'EUR')).toEqual({ ok: true, amount: 700 });
    expect(parseDecimalAmount('100', 'JPY')).toEqual({ ok: true, amount: 100 });
  });

  it('refuses what it cannot read exactly', () => {
    expect(parseDecimalAmount('', 'EUR')).toMatchObject({ ok: false });
    expect(parseDecimalAmount('1.234', 'EUR')).toEqual({ ok: false, message: 'at most 2 decimal places' });
    expect(parseDecimalAmount('1.5', 'JPY')).toEqual({ ok: false, message: 'JPY has no minor units' });
    expect(parseDecimalAmount('abc', 'EUR')).toMatchObject({ ok: false });
    expect(parseDecimalAmount('1e3', 'EUR')).toMatchObject({ ok: false });
    expect(parseDecimalAmount('-1', 'EUR')).toEqual({ ok: false, message: 'must not be negative' });
    expect(parseDecimalAmount('-1', 'EUR', { allowNegative: true })).toEqual({ ok: true, amount: -100 });
    expect(parseDecimalAmount('99999999999999999', 'EUR')).toEqual({ ok: false, message: 'is too large' });
  });

  it('sums per currency', () => {
    expect(
      sumByCurrency([
        { amount: 100, currency: 'EUR' },
        { amount: 5, currency: 'usd' },
        { amount: 250, currency: 'EUR' },
      ]),
    ).toEqual([
      { amount: 350, currency: 'EUR' },
      { amount: 5, currency: 'USD' },
    ]);
  });
});
