import { describe, expect, it } from 'vitest';

import type { Product } from '../api/types';
import {
  emptyProductForm,
  parseAttributes,
  productToForm,
  skuProblem,
  validateProductForm,
  validateRefundForm,
  validateShipment,
  validateStockForm,
  validatePasswordChange,
  validateWebhookForm,
} from './validation';

const fields = (r: { ok: boolean; errors?: { field: string }[] }) => (r.ok ? [] : (r.errors ?? []).map((e) => e.field));

describe('product form', () => {
  it('builds the API body', () => {
    const r = validateProductForm({
      ...emptyProductForm,
      sku: ' tm-1 ',
      name: ' Trail mug ',
      brand: '',
      category: 'kitchen',
      price: '12.90',
      attributes: 'color=blue\nsize="42"\nweight=350\norganic=true',
      imageUrls: 'https://a.example/1.jpg\n\n',
    });
    expect(r).toEqual({
      ok: true,
      value: {
        sku: 'tm-1',
        name: 'Trail mug',
        description: '',
        brand: null,
        category: 'kitchen',
        price: { amount: 1290, currency: 'EUR' },
        attributes: { color: 'blue', size: '42', weight: 350, organic: true },
        image_urls: ['https://a.example/1.jpg'],
        active: true,
      },
    });
  });

  it("names every bad field with the API's paths", () => {
    const r = validateProductForm({
      ...emptyProductForm,
      sku: '-bad',
      name: '',
      category: 'Not A Slug',
      price: '1.234',
      attributes: 'Color=x',
      imageUrls: 'ftp://x\nhttps://ok.example/a.png\nhttps://has space',
    });
    expect(fields(r)).toEqual(['sku', 'name', 'category', 'price.amount', 'attributes.Color', 'image_urls[0]', 'image_urls[2]']);
  });

  it('rejects a bad currency', () => {
    expect(fields(validateProductForm({ ...emptyProductForm, sku: 'A', name: 'A', price: '1', currency: 'EURO' }))).toEqual(['price.currency']);
  });

  it('round-trips a product through the form', () => {
    const product: Product = {
      id: '1',
      sku: 'A-1',
      name: 'Alpha',
      description: 'd',
      brand: 'B',
      category: null,
      price: { amount: 1999, currency: 'EUR' },
      attributes: { size: '42', color: 'black', weight: 3, fragile: false },
      image_urls: [],
      active: false,
      version: 4,
      created_at: '',
      updated_at: '',
    };
    const r = validateProductForm(productToForm(product));
    expect(r.ok && r.value).toEqual({
      sku: 'A-1',
      name: 'Alpha',
      description: 'd',
      brand: 'B',
      category: null,
      price: { amount: 1999, currency: 'EUR' },
      attributes: { size: '42', color: 'black', weight: 3, fragile: false },
      image_urls: [],
      active: false,
    });
  });

  it('checks attribute lines', () => {
    expect(parseAttributes('novalue')).toMatchObject({ ok: false, errors: [{ field: 'attributes' }] });
    expect(parseAttributes('a=1\na=2')).toMatchObject({ ok: false, errors: [{ field: 'attributes.a', message: 'is given more than once' }] });
    expect(parseAttributes('note=a=b')).toEqual({ ok: true, value: { note: 'a=b' } });
  });

  it('knows SKU rules', () => {
    expect(skuProblem('ABC-1_2.3')).toBeNull();
    expect(skuProblem('')).toBe('must not be empty');
    expect(skuProblem('x'.repeat(65))).toMatch(/at most 64/);
    expect(skuProblem('a b')).toMatch(/only letters/);
  });
});

describe('stock form', () => {
  it('adjusts by a signed number with a reason', () => {
    expect(validateStockForm({ mode: 'adjust', quantity: '+25', reason: ' delivery 4711 ', lowThreshold: '' })).toEqual({
      ok: true,
      value: { adjust: 25, reason: 'delivery 4711' },
    });
    expect(validateStockForm({ mode: 'adjust', quantity: '-3', reason: 'damaged', lowThreshold: '5' })).toEqual({
      ok: true,
      value: { adjust: -3, reason: 'damaged', low_threshold: 5 },
    });
  });
  it('sets a count', () => {
    expect(validateStockForm({ mode: 'set', quantity: '100', reason: 'count', lowThreshold: '' })).toEqual({ ok: true, value: { on_hand: 100, reason: 'count' } });
  });
  it('needs a reason and sane numbers', () => {
    expect(fields(validateStockForm({ mode: 'set', quantity: '-1', reason: ' ', lowThreshold: 'x' }))).toEqual(['on_hand', 'reason', 'low_threshold']);
    expect(fields(validateStockForm({ mode: 'adjust', quantity: '0', reason: 'r', lowThreshold: '' }))).toEqual(['adjust']);
    expect(fields(validateStockForm({ mode: 'adjust', quantity: '1.5', reason: 'r'.repeat(201), lowThreshold: '' }))).toEqual(['adjust', 'reason']);
  });
});

describe('refund form', () => {
  it('a full refund sends no amount', () => {
    expect(validateRefundForm({ mode: 'full', amount: '', reason: 'damaged' }, 'EUR', 5000)).toEqual({ ok: true, value: { reason: 'damaged' } });
  });
  it('a partial refund sends minor units within what is left', () => {
    expect(validateRefundForm({ mode: 'partial', amount: '12.50', reason: 'late' }, 'EUR', 5000)).toEqual({ ok: true, value: { amount: 1250, reason: 'late' } });
    expect(validateRefundForm({ mode: 'partial', amount: '50.01', reason: 'late' }, 'EUR', 5000)).toMatchObject({
      ok: false,
      errors: [{ field: 'amount', message: 'must be at most 50.00 EUR (not yet refunded)' }],
    });
    expect(fields(validateRefundForm({ mode: 'partial', amount: '0', reason: '' }, 'EUR', 5000))).toEqual(['reason', 'amount']);
  });
  it('nothing left, nothing to refund', () => {
    expect(fields(validateRefundForm({ mode: 'full', amount: '', reason: 'x' }, 'EUR', 0))).toEqual(['amount']);
  });
});

describe('shipment and webhooks', () => {
  it('shipment fields are optional but bounded', () => {
    expect(validateShipment(' DHL ', '')).toEqual({ ok: true, value: { carrier: 'DHL' } });
    expect(fields(validateShipment('x'.repeat(101), 'y'.repeat(101)))).toEqual(['carrier', 'tracking_number']);
  });
  it('webhook needs an http(s) URL; no event types means all', () => {
    expect(validateWebhookForm({ url: ' https://partner.example/hooks ', eventTypes: ['order.shipped', 'order.placed', 'order.shipped'], description: ' P ' })).toEqual({
      ok: true,
      value: { url: 'https://partner.example/hooks', event_types: ['order.placed', 'order.shipped'], description: 'P' },
    });
    expect(fields(validateWebhookForm({ url: 'partner.example', eventTypes: [], description: '' }))).toEqual(['url']);
    expect(fields(validateWebhookForm({ url: '', eventTypes: [], description: '' }))).toEqual(['url']);
  });
});

describe('password change', () => {
  const form = (current: string, next: string, repeat = next) => validatePasswordChange({ current, next, repeat });
  const messages = (r: ReturnType<typeof validatePasswordChange>) => (r.ok ? [] : r.errors.map((e) => `${e.field}: ${e.message}`));

  it('builds the body of POST /me/password, untrimmed', () => {
    expect(form('old password ', ' new-password-1')).toEqual({ ok: true, value: { current_password: 'old password ', new_password: ' new-password-1' } });
  });
  it('new passwords are 10 to 128 characters, counted as the server does', () => {
    expect(messages(form('old-password', 'short'))).toEqual(['new_password: must be 10 to 128 characters']);
    expect(form('old-password', 'x'.repeat(10)).ok).toBe(true);
    expect(form('old-password', 'x'.repeat(128)).ok).toBe(true);
    expect(fields(form('old-password', 'x'.repeat(129)))).toEqual(['new_password']);
    // 10 emoji are 10 characters (20 UTF-16 units); 9 are too few.
    expect(form('old-password', '🔑'.repeat(10)).ok).toBe(true);
    expect(fields(form('old-password', '🔑'.repeat(9)))).toEqual(['new_password']);
    expect(fields(form('old-password', ' '.repeat(12)))).toEqual(['new_password']);
  });
  it('the new password differs from the current one, and is repeated', () => {
    expect(messages(form('same-password-1', 'same-password-1'))).toEqual(['new_password: must differ from the current password']);
    expect(messages(form('old-password', 'new-password-1', 'new-password-2'))).toEqual(['repeat_password: does not match the new password']);
    expect(messages(form('old-password', 'new-password-1', ''))).toEqual(['repeat_password: repeat the new password']);
  });
  it('asks for the current password', () => {
    expect(fields(form('', 'new-password-1'))).toEqual(['current_password']);
    expect(fields(form('x'.repeat(129), 'new-password-1'))).toEqual(['current_password']);
  });
});
