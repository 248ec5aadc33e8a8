/** One order: its saga timeline step by step, its payment, and the actions an admin can take. */

import { useState } from 'react';

import { SIGNED_OUT_EVERYWHERE_MESSAGE } from '../api/client';
import { toApiError } from '../api/problem';
import { IN_FLIGHT, type Order, type TimelineStep } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { DataTable } from '../components/DataTable';
import { TextField } from '../components/Field';
import { ConfirmDialog, Modal, ModalActions } from '../components/Modal';
import { ErrorState, FormErrorSummary, Loading } from '../components/Status';
import { useApi, useClient, useNotify } from '../context';
import { formatDateTime } from '../lib/dates';
import { useAsync, useInterval, useSubmit } from '../lib/hooks';
import { reasonLabel, stepLabel } from '../lib/labels';
import { formatAmount, formatMoney } from '../lib/money';
import { Link } from '../lib/router';
import { validateShipment } from '../lib/validation';
import { PaymentPanel, reconcile, RefundDialog } from './PaymentPanel';

const POLL_MS = 2000;

function isMoney(value: unknown): value is { amount: number; currency: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { amount?: unknown }).amount === 'number' &&
    typeof (value as { currency?: unknown }).currency === 'string'
  );
}

function detailText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (isMoney(value)) return formatMoney(value);
  return JSON.stringify(value);
}

/** A step's details for people: amounts in minor units with a currency shown as money. */
export function detailEntries(detail: Record<string, unknown> | null, fallbackCurrency: string): [string, string][] {
  if (!detail || typeof detail !== 'object') return [];
  const currency = typeof detail.currency === 'string' ? detail.currency : fallbackCurrency;
  return Object.entries(detail)
    .filter(([k]) => !(k === 'currency' && typeof detail.amount === 'number'))
    .map(([k, v]) => {
      if (k === 'amount' && typeof v === 'number') return [k, formatAmount(v, currency)];
      if (k === 'reason' && typeof v === 'string') return [k, reasonLabel(v)];
      return [k, detailText(v)];
    });
}

export function Timeline({ steps, currency }: { steps: readonly TimelineStep[]; currency: string }) {
  if (steps.length === 0) return <p className="muted">No steps recorded yet.</p>;
  return (
    <ol className="timeline" data-testid="timeline">
      {steps.map((s, i) => {
        const details = detailEntries(s.detail, currency);
        return (
          <li key={`${s.step}-${s.at}-${i}`} className="timeline-step">
            <div className="timeline-head">
              <span className="timeline-index" aria-hidden="true">
                {i + 1}
              </span>
              <strong>{stepLabel(s.step)}</strong> <StatusBadge status={s.status} /> <time dateTime={s.at}>{formatDateTime(s.at)}</time>
            </div>
            {details.length ? (
              <dl className="timeline-detail">
                {details.map(([k, v]) => (
                  <div key={k}>
                    <dt>{k}</dt>
                    <dd>{v}</dd>
                  </div>
                ))}
              </dl>
            ) : null}
            {s.event_id ? <p className="muted small">event {s.event_id}</p> : null}
          </li>
        );
      })}
    </ol>
  );
}

function ShipDialog({ order, onClose, onDone }: { order: Order; onClose: () => void; onDone: (o: Order) => void }) {
  const api = useApi();
  const notify = useNotify();
  const [carrier, setCarrier] = useState('');
  const [tracking, setTracking] = useState('');
  const { error, busy, onSubmit } = useSubmit(
    () => validateShipment(carrier, tracking),
    async (value) => {
      const shipped = await api.shipOrder(order.id, value);
      notify('Order marked shipped.');
      onDone(shipped);
      onClose();
    },
  );
  return (
    <Modal title="Mark order shipped" onClose={onClose} busy={busy}>
      <form onSubmit={onSubmit} noValidate>
        <FormErrorSummary error={error} fields={['carrier', 'tracking_number']} />
        <p>The customer is told the order is on its way.</p>
        <TextField id="ship-carrier" label="Carrier (optional)" value={carrier} onChange={(e) => setCarrier(e.target.value)} errors={error?.errorsFor('carrier')} />
        <TextField
          id="ship-tracking"
          label="Tracking number (optional)"
          value={tracking}
          onChange={(e) => setTracking(e.target.value)}
          errors={error?.errorsFor('tracking_number')}
        />
        <ModalActions busy={busy} onCancel={onClose} label="Mark shipped" busyLabel="Saving…" />
      </form>
    </Modal>
  );
}

/** "End the customer's sessions" (a compromised account): every session of it, on every device. */
function EndSessionsDialog({ customerId, onClose }: { customerId: string; onClose: () => void }) {
  const api = useApi();
  const client = useClient();
  const notify = useNotify();
  return (
    <ConfirmDialog
      title="End the customer's sessions?"
      confirmLabel="End sessions"
      danger
      onClose={onClose}
      onConfirm={async () => {
        await api.endUserSessions(customerId);
        if (client.current()?.claims.sub === customerId) {
          // Your own account: this session has ended too.
          await client.logout(SIGNED_OUT_EVERYWHERE_MESSAGE);
          return;
        }
        notify(`Every session of customer ${customerId} has ended; they must sign in again.`);
      }}
    >
      <p>
        Customer <code>{customerId}</code> is signed out on every device and browser and has to sign in again. Use this when the account may be
        compromised; it does not change the password. Their orders are not affected.
      </p>
    </ConfirmDialog>
  );
}

export function OrderDetail({ id }: { id: string }) {
  const api = useApi();
  const notify = useNotify();
  const [dialog, setDialog] = useState<'ship' | 'cancel' | 'refund' | 'sessions' | null>(null);
  const order = useAsync((signal) => api.order(id, signal), [id]);
  const payment = useAsync(
    async (signal) => {
      try {
        return await api.payment(id, signal);
      } catch (e) {
        if (toApiError(e).status === 404) return null; // no payment yet
        throw e;
      }
    },
    [id],
  );
  const current = order.data;
  const inFlight = current ? IN_FLIGHT.includes(current.status) : false;
  // After an action, keep watching a while: its events (refunded, shipped) land shortly after.
  const [watchUntil, setWatchUntil] = useState(0);
  const watching = inFlight || Date.now() < watchUntil;
  // Watch the saga while the order is still undecided.
  useInterval(
    () => {
      order.reload();
      payment.reload();
    },
    POLL_MS,
    watching && order.status !== 'loading',
  );

  const reloadAll = () => {
    setWatchUntil(Date.now() + 15_000);
    order.reload();
    payment.reload();
  };

  if (!current) {
    return (
      <section aria-labelledby="order-title">
        <p className="crumbs">
          <Link to="/orders">Orders</Link> /
        </p>
        <h1 id="order-title" tabIndex={-1}>
          Order
        </h1>
        {order.status === 'error' ? (
          <ErrorState error={order.error} onRetry={order.reload} title={order.error.status === 404 ? 'No such order' : undefined} />
        ) : (
          <Loading label="Loading order…" />
        )}
      </section>
    );
  }

  const p = payment.data;
  const refundable = p ? reconcile(p).refundable : 0;

  return (
    <section aria-labelledby="order-title">
      <p className="crumbs">
        <Link to="/orders">Orders</Link> /
      </p>
      <div className="page-head">
        <h1 id="order-title" tabIndex={-1}>
          Order <code>{current.id.slice(0, 8)}</code>
        </h1>
        <span className="order-status" data-testid="order-status" aria-live="polite">
          <StatusBadge status={current.status} />
        </span>
      </div>
      {order.status === 'error' ? <ErrorState error={order.error} onRetry={order.reload} title="Could not refresh the order" /> : null}
      {inFlight ? (
        <p className="muted" role="status">
          The saga is still running; this page refreshes every {POLL_MS / 1000} seconds.
        </p>
      ) : null}

      <div className="actions panel">
        <button type="button" className="primary" disabled={current.status !== 'CONFIRMED'} onClick={() => setDialog('ship')}>
          Mark shipped
        </button>
        <button type="button" disabled={!inFlight} onClick={() => setDialog('cancel')}>
          Cancel order
        </button>
        <button type="button" disabled={!p || refundable <= 0} onClick={() => setDialog('refund')}>
          Refund
        </button>
        <button type="button" onClick={reloadAll}>
          Refresh
        </button>
      </div>

      <div className="two-col">
        <section className="panel" aria-labelledby="order-facts">
          <h2 id="order-facts">Order</h2>
          <dl className="facts">
            <div>
              <dt>Id</dt>
              <dd>
                <code data-testid="order-id">{current.id}</code>
              </dd>
            </div>
            <div>
              <dt>Placed</dt>
              <dd>{formatDateTime(current.created_at)}</dd>
            </div>
            <div>
              <dt>Customer</dt>
              <dd>
                <code data-testid="order-customer">{current.customer_id}</code>{' '}
                <button type="button" className="link-button" onClick={() => setDialog('sessions')}>
                  End the customer's sessions
                </button>
              </dd>
            </div>
            <div>
              <dt>Total</dt>
              <dd>{formatMoney(current.total)}</dd>
            </div>
            {current.cancel_reason ? (
              <div>
                <dt>Cancelled because</dt>
                <dd>{reasonLabel(current.cancel_reason)}</dd>
              </div>
            ) : null}
            {current.carrier || current.tracking_number ? (
              <div>
                <dt>Shipment</dt>
                <dd>
                  {current.carrier ?? ''} {current.tracking_number ?? ''}
                </dd>
              </div>
            ) : null}
            {current.contact && typeof current.contact.email === 'string' ? (
              <div>
                <dt>Contact</dt>
                <dd>
                  {typeof current.contact.name === 'string' ? `${current.contact.name}, ` : ''}
                  {current.contact.email}
                </dd>
              </div>
            ) : null}
          </dl>
          <DataTable
            caption="Lines"
            rows={current.lines}
            rowKey={(l) => l.sku}
            loading={false}
            empty="This order has no lines."
            columns={[
              { key: 'sku', header: 'SKU', render: (l) => <code>{l.sku}</code> },
              { key: 'name', header: 'Product', render: (l) => l.name },
              { key: 'qty', header: 'Units', className: 'num', render: (l) => l.quantity },
              { key: 'unit', header: 'Unit price', className: 'num', render: (l) => formatAmount(l.unit_amount, current.currency) },
              { key: 'total', header: 'Line total', className: 'num', render: (l) => formatAmount(l.unit_amount * l.quantity, current.currency) },
            ]}
          />
        </section>
        <section className="panel" aria-labelledby="order-timeline">
          <h2 id="order-timeline">Saga timeline</h2>
          <Timeline steps={current.timeline} currency={current.currency} />
        </section>
      </div>

      <section className="panel" aria-labelledby="order-payment">
        <h2 id="order-payment">Payment and ledger</h2>
        {payment.status === 'error' && !p ? (
          <ErrorState error={payment.error} onRetry={payment.reload} title="Could not load the payment" />
        ) : p === undefined ? (
          <Loading label="Loading payment…" />
        ) : p === null ? (
          <p className="muted">No payment has been created for this order yet.</p>
        ) : (
          <>
            <PaymentPanel payment={p} />
            <p>
              <Link to={`/payments/${current.id}`}>Open the payment</Link>
            </p>
          </>
        )}
      </section>

      {dialog === 'ship' ? <ShipDialog order={current} onClose={() => setDialog(null)} onDone={reloadAll} /> : null}
      {dialog === 'cancel' ? (
        <ConfirmDialog
          title="Cancel this order?"
          confirmLabel="Cancel order"
          danger
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await api.cancelOrder(current.id);
            notify('Order cancelled; stock is released and the payment voided.');
            reloadAll();
          }}
        >
          <p>
            The order is <StatusBadge status={current.status} />. Cancelling releases its reserved stock and voids any payment authorization. The
            customer is told.
          </p>
        </ConfirmDialog>
      ) : null}
      {dialog === 'sessions' ? <EndSessionsDialog customerId={current.customer_id} onClose={() => setDialog(null)} /> : null}
      {dialog === 'refund' && p ? <RefundDialog orderId={current.id} payment={p} onClose={() => setDialog(null)} onRefunded={reloadAll} /> : null}
    </section>
  );
}
