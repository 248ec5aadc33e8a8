/** Inventory: stock per SKU, reservations in flight, restock and adjust with a reason. */

import { useState, type FormEvent } from 'react';

import type { StockLevel } from '../api/types';
import { CursorTable } from '../components/DataTable';
import { CheckboxField, TextField } from '../components/Field';
import { Modal, ModalActions } from '../components/Modal';
import { ErrorState, FormErrorSummary, Loading } from '../components/Status';
import { useApi, useNotify } from '../context';
import { formatDateTime } from '../lib/dates';
import { useAsync, useCursorList, useSubmit } from '../lib/hooks';
import { Link, useLocation } from '../lib/router';
import { skuProblem, validateStockForm, type StockForm } from '../lib/validation';

const STOCK_FIELDS = ['on_hand', 'adjust', 'reason', 'low_threshold'];

export function StockDialog({ sku, level, onClose, onSaved }: { sku: string; level?: StockLevel; onClose: () => void; onSaved: (l: StockLevel) => void }) {
  const api = useApi();
  const notify = useNotify();
  const [form, setForm] = useState<StockForm>({ mode: 'adjust', quantity: '', reason: '', lowThreshold: '' });
  const { error, busy, onSubmit } = useSubmit(
    () => validateStockForm(form),
    async (value) => {
      const saved = await api.changeStock(sku, value);
      notify(`${saved.sku}: ${saved.on_hand} on hand, ${saved.on_hand - saved.reserved} available.`);
      onSaved(saved);
      onClose();
    },
  );
  const quantityErrors = [...(error?.errorsFor('on_hand') ?? []), ...(error?.errorsFor('adjust') ?? [])];

  return (
    <Modal title={`Change stock of ${sku}`} onClose={onClose} busy={busy}>
      {level ? (
        <p className="muted">
          Now: {level.on_hand} on hand, {level.reserved} reserved, {level.on_hand - level.reserved} available; low at {level.low_threshold}.
        </p>
      ) : (
        <p className="muted">This SKU has never been stocked.</p>
      )}
      <form onSubmit={onSubmit} noValidate>
        <FormErrorSummary error={error} fields={STOCK_FIELDS} />
        <fieldset>
          <legend>Change</legend>
          <div className="radio">
            <input type="radio" id="stock-mode-adjust" name="stock-mode" checked={form.mode === 'adjust'} onChange={() => setForm((f) => ({ ...f, mode: 'adjust' }))} />
            <label htmlFor="stock-mode-adjust">Restock or adjust by a number of units (negative removes)</label>
          </div>
          <div className="radio">
            <input type="radio" id="stock-mode-set" name="stock-mode" checked={form.mode === 'set'} onChange={() => setForm((f) => ({ ...f, mode: 'set' }))} />
            <label htmlFor="stock-mode-set">Set the units on hand (a count)</label>
          </div>
        </fieldset>
        <TextField
          id="stock-quantity"
          label={form.mode === 'set' ? 'Units on hand' : 'Units to add (or remove, with -)'}
          inputMode="numeric"
          value={form.quantity}
          onChange={(e) => setForm((f) => ({ ...f, quantity: e.target.value }))}
          errors={quantityErrors}
          required
        />
        <TextField
          id="stock-reason"
          label="Reason"
          value={form.reason}
          onChange={(e) => setForm((f) => ({ ...f, reason: e.target.value }))}
          errors={error?.errorsFor('reason')}
          required
          hint="Kept with the stock movement, e.g. delivery 4711, damaged in storage."
        />
        <TextField
          id="stock-threshold"
          label="Low-stock threshold (optional)"
          inputMode="numeric"
          value={form.lowThreshold}
          onChange={(e) => setForm((f) => ({ ...f, lowThreshold: e.target.value }))}
          errors={error?.errorsFor('low_threshold')}
        />
        <ModalActions busy={busy} onCancel={onClose} label="Save stock" busyLabel="Saving…" />
      </form>
    </Modal>
  );
}

function SkuLookup({ initial, onChanged }: { initial: string; onChanged: () => void }) {
  const api = useApi();
  const [input, setInput] = useState(initial);
  const [sku, setSku] = useState(initial.trim().toUpperCase());
  const [inputError, setInputError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const level = useAsync((signal) => (sku ? api.stockLevel(sku, signal) : Promise.resolve(null)), [sku]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problem = skuProblem(input);
    setInputError(problem);
    if (!problem) setSku(input.trim().toUpperCase());
  };

  return (
    <div className="panel">
      <form className="inline-form" onSubmit={submit} noValidate aria-label="Find a SKU">
        <TextField id="inv-sku" label="Find SKU" value={input} onChange={(e) => setInput(e.target.value)} errors={inputError ? [inputError] : undefined} />
        <button type="submit">Find</button>
      </form>
      {sku ? (
        level.status === 'error' && level.error.status !== 404 ? (
          <ErrorState error={level.error} onRetry={level.reload} />
        ) : level.status === 'loading' ? (
          <Loading label={`Loading ${sku}…`} />
        ) : (
          <div className="stock-card" data-testid="stock-card">
            <h2>
              <code>{sku}</code>
            </h2>
            {level.data ? (
              <dl className="kpis">
                <div className="kpi">
                  <dt>On hand</dt>
                  <dd data-testid="stock-on-hand">{level.data.on_hand}</dd>
                </div>
                <div className="kpi">
                  <dt>Reserved</dt>
                  <dd>{level.data.reserved}</dd>
                </div>
                <div className="kpi">
                  <dt>Available</dt>
                  <dd data-testid="stock-available">{level.data.on_hand - level.data.reserved}</dd>
                </div>
                <div className="kpi">
                  <dt>Low at</dt>
                  <dd>{level.data.low_threshold}</dd>
                </div>
              </dl>
            ) : (
              <p>This SKU has never been stocked.</p>
            )}
            <button type="button" className="primary" onClick={() => setEditing(true)}>
              {level.data ? 'Restock or adjust' : 'Stock it'}
            </button>
          </div>
        )
      ) : null}
      {editing ? (
        <StockDialog
          sku={sku}
          {...(level.data ? { level: level.data } : {})}
          onClose={() => setEditing(false)}
          onSaved={() => {
            level.reload();
            onChanged();
          }}
        />
      ) : null}
    </div>
  );
}

export function Inventory() {
  const api = useApi();
  const { search } = useLocation();
  const [lowOnly, setLowOnly] = useState(false);
  const [editing, setEditing] = useState<StockLevel | null>(null);
  const [changes, setChanges] = useState(0);
  const stock = useCursorList((cursor, limit, signal) => api.inventory(lowOnly, cursor, limit, signal), [lowOnly, changes], 50);
  const reservations = useCursorList((cursor, limit, signal) => api.reservations(cursor, limit, signal), [changes], 20);

  return (
    <section aria-labelledby="inventory-title">
      <div className="page-head">
        <h1 id="inventory-title" tabIndex={-1}>
          Inventory
        </h1>
      </div>
      <SkuLookup initial={search.get('sku') ?? ''} onChanged={() => setChanges((n) => n + 1)} />

      <section className="panel" aria-labelledby="stock-title">
        <h2 id="stock-title">Stock per SKU</h2>
        <CheckboxField id="inv-low" label="Only SKUs at or below their low-stock threshold" checked={lowOnly} onChange={(e) => setLowOnly(e.target.checked)} />
        <CursorTable
          caption="Stock per SKU"
          hiddenCaption
          list={stock}
          rowKey={(r) => r.sku}
          empty={lowOnly ? 'No SKU is low on stock.' : 'No stock recorded yet.'}
          columns={[
            { key: 'sku', header: 'SKU', render: (r) => <code>{r.sku}</code> },
            { key: 'on_hand', header: 'On hand', className: 'num', render: (r) => r.on_hand.toLocaleString() },
            { key: 'reserved', header: 'Reserved', className: 'num', render: (r) => r.reserved.toLocaleString() },
            { key: 'available', header: 'Available', className: 'num', render: (r) => r.available.toLocaleString() },
            { key: 'low', header: 'Low at', className: 'num', render: (r) => r.low_threshold.toLocaleString() },
            { key: 'state', header: 'State', render: (r) => (r.low ? <span className="badge badge-bad">low</span> : <span className="badge badge-ok">ok</span>) },
            {
              key: 'actions',
              header: <span className="visually-hidden">Actions</span>,
              render: (r) => (
                <button type="button" className="link-button" onClick={() => setEditing(r)} aria-label={`Restock or adjust ${r.sku}`}>
                  Restock or adjust
                </button>
              ),
            },
          ]}
        />
      </section>

      <section className="panel" aria-labelledby="reservations-title">
        <h2 id="reservations-title">Reservations in flight</h2>
        <CursorTable
          caption="Reservations in flight"
          hiddenCaption
          list={reservations}
          rowKey={(r) => `${r.order_id}-${r.sku}`}
          empty="No reservations are held right now."
          columns={[
            { key: 'order', header: 'Order', render: (r) => <Link to={`/orders/${r.order_id}`}>{r.order_id.slice(0, 8)}…</Link> },
            { key: 'sku', header: 'SKU', render: (r) => <code>{r.sku}</code> },
            { key: 'quantity', header: 'Units', className: 'num', render: (r) => r.quantity.toLocaleString() },
            { key: 'expires', header: 'Expires', render: (r) => formatDateTime(r.expires_at) },
          ]}
        />
      </section>

      {editing ? (
        <StockDialog sku={editing.sku} level={editing} onClose={() => setEditing(null)} onSaved={() => setChanges((n) => n + 1)} />
      ) : null}
    </section>
  );
}
