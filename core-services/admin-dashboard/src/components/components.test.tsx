import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { ApiClient } from '../api/client';
import type { Page } from '../api/types';
import { ApiProvider, NoticeProvider } from '../context';
import { useCursorList } from '../lib/hooks';
import { Overview } from '../screens/Overview';
import { reconcile } from '../screens/PaymentPanel';
import { ProductEdit } from '../screens/ProductEdit';
import { BarChart, DonutChart } from './Charts';
import { CursorTable } from './DataTable';
import { ConfirmDialog, Modal } from './Modal';

afterEach(cleanup);

function problem(status: number, body: Record<string, unknown>): Response {
  return new Response(JSON.stringify({ status, ...body }), { status, headers: { 'content-type': 'application/problem+json' } });
}

function withApi(fetchImpl: (url: string, init?: RequestInit) => Promise<Response>, ui: React.ReactNode) {
  const client = new ApiClient({ fetch: ((input: RequestInfo | URL, init?: RequestInit) => fetchImpl(String(input), init)) as typeof fetch });
  return render(
    <ApiProvider client={client}>
      <NoticeProvider>{ui}</NoticeProvider>
    </ApiProvider>,
  );
}

describe('CursorTable', () => {
  const TOTAL = 12_345;
  /** A server with 12,345 rows, answering pages by cursor (the offset, as text). */
  async function serve(cursor: string | null, limit: number): Promise<Page<{ id: number }>> {
    const start = cursor ? Number(cursor) : 0;
    const items = Array.from({ length: Math.min(limit, TOTAL - start) }, (_, i) => ({ id: start + i }));
    const next = start + limit < TOTAL ? String(start + limit) : null;
    return { items, next_cursor: next };
  }

  function Harness() {
    const list = useCursorList((cursor, limit) => serve(cursor, limit), [], 50);
    return (
      <CursorTable caption="Rows" list={list} rowKey={(r) => String(r.id)} empty="none" columns={[{ key: 'id', header: 'Id', render: (r) => r.id }]} />
    );
  }

  it('renders only the current page of a 10,000+ row list and pages with cursors', async () => {
    render(<Harness />);
    const table = await screen.findByRole('table');
    expect(within(table).getAllByRole('row')).toHaveLength(51); // header + 50
    fireEvent.click(screen.getByRole('button', { name: /next/i }));
    await waitFor(() => expect(screen.getByText('Page 2')).toBeTruthy());
    await waitFor(() => expect(within(screen.getByRole('table')).getByText('50')).toBeTruthy());
    expect(within(screen.getByRole('table')).getAllByRole('row')).toHaveLength(51);
    fireEvent.click(screen.getByRole('button', { name: /previous/i }));
    await waitFor(() => expect(within(screen.getByRole('table')).getByText('0')).toBeTruthy());
  });

  it('shows an error with a retry instead of a blank table', async () => {
    let fail = true;
    function Failing() {
      const list = useCursorList(async () => {
        if (fail) throw new TypeError('Failed to fetch');
        return { items: [{ id: 1 }], next_cursor: null };
      }, []);
      return <CursorTable caption="Rows" list={list} rowKey={(r) => String(r.id)} empty="none" columns={[{ key: 'id', header: 'Id', render: (r) => r.id }]} />;
    }
    render(<Failing />);
    expect((await screen.findByRole('alert')).textContent).toContain('Failed to fetch');
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('table')).toBeTruthy();
  });

  it('says so when the list is empty', async () => {
    function Empty() {
      const list = useCursorList(async () => ({ items: [] as { id: number }[], next_cursor: null }), []);
      return <CursorTable caption="Rows" list={list} rowKey={(r) => String(r.id)} empty="Nothing here." columns={[]} />;
    }
    render(<Empty />);
    expect(await screen.findByText('Nothing here.')).toBeTruthy();
  });
});

describe('ConfirmDialog', () => {
  it('traps focus, starts on Cancel for destructive actions, closes on Escape and restores focus', async () => {
    const onClose = vi.fn();
    const opener = document.createElement('button');
    opener.textContent = 'open';
    document.body.appendChild(opener);
    opener.focus();
    const root = document.createElement('div');
    root.id = 'root';
    document.body.appendChild(root);
    const { unmount } = render(
      <ConfirmDialog title="Discard?" confirmLabel="Discard" danger onConfirm={() => undefined} onClose={onClose}>
        <p>Gone for good.</p>
      </ConfirmDialog>,
      { container: root },
    );
    const dialog = screen.getByRole('dialog', { name: 'Discard?' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    expect(root.hasAttribute('inert')).toBe(true);
    const cancel = screen.getByRole('button', { name: 'Cancel' });
    const confirm = screen.getByRole('button', { name: 'Discard' });
    expect(document.activeElement).toBe(cancel);
    confirm.focus();
    fireEvent.keyDown(document, { key: 'Tab' });
    expect(document.activeElement).toBe(cancel);
    fireEvent.keyDown(document, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(confirm);
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(onClose).toHaveBeenCalled();
    unmount();
    expect(root.hasAttribute('inert')).toBe(false);
    expect(document.activeElement).toBe(opener);
    opener.remove();
    root.remove();
  });

  it('gives focus back to the opener even when a field inside takes focus itself', () => {
    const opener = document.createElement('button');
    document.body.appendChild(opener);
    opener.focus();
    const { unmount } = render(
      <Modal title="Refund" onClose={() => undefined}>
        <input aria-label="amount" autoFocus />
      </Modal>,
    );
    expect(document.activeElement).toBe(screen.getByLabelText('amount'));
    unmount();
    expect(document.activeElement).toBe(opener);
    opener.remove();
  });

  it('keeps the dialog open and shows the API problem when the action fails', async () => {
    const onClose = vi.fn();
    const { ApiError } = await import('../api/problem');
    render(
      <ConfirmDialog
        title="Replay?"
        confirmLabel="Replay"
        onConfirm={() => Promise.reject(new ApiError({ type: 'x', title: 'Conflict', status: 409, detail: 'already replayed', errors: [] }))}
        onClose={onClose}
      >
        <p>Again.</p>
      </ConfirmDialog>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Replay' }));
    expect((await screen.findByRole('alert')).textContent).toContain('Conflict');
    expect(onClose).not.toHaveBeenCalled();
  });
});

describe('charts', () => {
  it('are images named by their title with every value in words', () => {
    render(
      <>
        <BarChart title="By status" data={[{ label: 'CONFIRMED', value: 3 }, { label: 'CANCELLED', value: 1 }]} />
        <DonutChart title="Outcomes" data={[{ label: 'Confirmed', value: 3 }, { label: 'Cancelled', value: 1 }]} />
      </>,
    );
    const [bar, donut] = screen.getAllByRole('img');
    const describedBy = (el: Element) =>
      (el.getAttribute('aria-labelledby') ?? '')
        .split(' ')
        .map((id) => document.getElementById(id)?.textContent)
        .join(' ');
    expect(describedBy(bar!)).toContain('By status');
    expect(describedBy(bar!)).toContain('CONFIRMED: 3; CANCELLED: 1');
    expect(describedBy(donut!)).toContain('Confirmed: 3 (75%)');
    expect(screen.getByText('1 (25%)')).toBeTruthy();
    expect(document.querySelector('[style]')).toBeNull();
  });
});

describe('product form', () => {
  it('shows the API field errors under the fields they concern', async () => {
    const fetchImpl = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.startsWith('/api/v1/categories')) return new Response('[]', { headers: { 'content-type': 'application/json' } });
      if (url === '/api/v1/admin/products' && init?.method === 'POST') {
        return problem(422, {
          title: 'The request has invalid fields',
          detail: 'invalid fields: price.currency, attributes.x',
          errors: [
            { field: 'price.currency', message: '`XXX` is not an ISO 4217 currency code' },
            { field: 'category', message: 'no such category' },
            { field: 'mystery', message: 'something else' },
          ],
        });
      }
      return problem(404, { title: 'Not found' });
    });
    withApi(fetchImpl, <ProductEdit />);
    fireEvent.change(screen.getByLabelText('SKU'), { target: { value: 'NEW-1' } });
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'New thing' } });
    fireEvent.change(screen.getByLabelText('Price'), { target: { value: '9.99' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create product' }));
    const currency = await screen.findByLabelText('Currency');
    await waitFor(() => expect(currency.getAttribute('aria-invalid')).toBe('true'));
    const described = currency.getAttribute('aria-describedby') ?? '';
    expect(document.getElementById(described.split(' ').at(-1) ?? '')?.textContent).toContain('not an ISO 4217 currency code');
    const summary = screen.getByRole('alert');
    expect(summary.textContent).toContain('mystery');
    expect(summary.textContent).toContain('2 fields need attention');
    const body = JSON.parse(String(fetchImpl.mock.calls.find((c) => c[1]?.method === 'POST')?.[1]?.body));
    expect(body).toMatchObject({ sku: 'NEW-1', price: { amount: 999, currency: 'EUR' } });
  });

  it('checks fields before sending', async () => {
    const fetchImpl = vi.fn(async (_url: string, _init?: RequestInit) => new Response('[]', { headers: { 'content-type': 'application/json' } }));
    withApi(fetchImpl, <ProductEdit />);
    fireEvent.click(screen.getByRole('button', { name: 'Create product' }));
    await waitFor(() => expect(screen.getByLabelText('SKU').getAttribute('aria-invalid')).toBe('true'));
    expect(screen.getByLabelText('Name').getAttribute('aria-invalid')).toBe('true');
    expect(fetchImpl.mock.calls.every((c) => !String(c[0]).includes('/admin/products'))).toBe(true);
  });
});

describe('overview', () => {
  it('shows an error per section when the API is down, never a blank screen', async () => {
    withApi(async () => problem(503, { title: 'Service unavailable', detail: 'orders is not answering' }), <Overview />);
    await act(async () => undefined);
    await waitFor(() => expect(screen.getAllByRole('alert').length).toBeGreaterThanOrEqual(3));
    expect(screen.getByText("Could not load today's orders")).toBeTruthy();
    expect(screen.getAllByText(/Could not read .* dead letters/)).toHaveLength(4);
  });
});

describe('reconcile', () => {
  const entry = (kind: string, amount: number) => ({ id: 1, kind, amount, currency: 'EUR', psp_reference: null, refund_id: null, created_at: '' });
  it('sums the ledger and checks it against the balance', () => {
    const ledger = [entry('authorization', 5000), entry('capture', 5000), entry('refund', 1250)];
    const r = reconcile({ ledger, balance: { authorized: 5000, captured: 5000, voided: 0, refunded: 1250, net: 3750, reconciles: true } });
    expect(r).toMatchObject({ net: 3750, refundable: 3750, matchesApi: true, consistent: true });
    expect(reconcile({ ledger, balance: { authorized: 5000, captured: 5000, voided: 0, refunded: 0, net: 5000, reconciles: true } }).matchesApi).toBe(false);
    expect(reconcile({ ledger: [entry('capture', 10)], balance: { authorized: 0, captured: 10, voided: 0, refunded: 0, net: 10, reconciles: false } }).consistent).toBe(false);
  });
});
