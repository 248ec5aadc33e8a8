import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';

import { bodyText } from './DeadLetters';
import { detailEntries, Timeline } from './OrderDetail';
import { emptyFilters, flattenCategories, toSearch } from './Products';

afterEach(cleanup);

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
