/** A payment intent with its ledger, balance and reconciliation; the refund dialog. */

import { useState, type FormEvent } from 'react';

import { newIdempotencyKey } from '../api/client';
import { toApiError, validationError, type ApiError } from '../api/problem';
import type { LedgerEntry, PaymentDetail, Refund } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { DataTable } from '../components/DataTable';
import { TextField } from '../components/Field';
import { Modal } from '../components/Modal';
import { FormErrorSummary } from '../components/Status';
import { useApi, useNotify } from '../context';
import { formatDateTime } from '../lib/dates';
import { formatAmount } from '../lib/money';
import { validateRefundForm, type RefundForm } from '../lib/validation';

export interface Reconciliation {
  authorized: number;
  captured: number;
  voided: number;
  refunded: number;
  net: number;
  /** Our own sums agree with the balance the API reports. */
  matchesApi: boolean;
  /** Every authorized unit is captured, voided or still held; no more refunded than captured. */
  consistent: boolean;
  /** Captured minus refunded: what a refund can still give back. */
  refundable: number;
}

/** Sums the ledger by kind and checks it against the API's balance. */
export function reconcile(detail: Pick<PaymentDetail, 'ledger' | 'balance'>): Reconciliation {
  const sum = (kind: LedgerEntry['kind']) => detail.ledger.filter((e) => e.kind === kind).reduce((total, e) => total + e.amount, 0);
  const authorized = sum('authorization');
  const captured = sum('capture');
  const voided = sum('void');
  const refunded = sum('refund');
  const net = captured - refunded;
  const b = detail.balance;
  return {
    authorized,
    captured,
    voided,
    refunded,
    net,
    matchesApi: b.authorized === authorized && b.captured === captured && b.voided === voided && b.refunded === refunded && b.net === net,
    consistent: captured + voided <= authorized && refunded <= captured,
    refundable: Math.max(0, captured - refunded),
  };
}

export function PaymentPanel({ payment }: { payment: PaymentDetail }) {
  const r = reconcile(payment);
  const ok = r.matchesApi && r.consistent && payment.balance.reconciles;
  const money = (n: number) => formatAmount(n, payment.currency);
  return (
    <div className="payment">
      <dl className="facts">
        <div>
          <dt>Payment</dt>
          <dd>
            <code>{payment.id}</code>
          </dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={payment.status} />
          </dd>
        </div>
        <div>
          <dt>Amount</dt>
          <dd>{money(payment.amount)}</dd>
        </div>
        <div>
          <dt>Provider reference</dt>
          <dd>{payment.psp_reference ?? '—'}</dd>
        </div>
        {payment.failure_reason ? (
          <div>
            <dt>Failure</dt>
            <dd>{payment.failure_reason}</dd>
          </div>
        ) : null}
        <div>
          <dt>Created</dt>
          <dd>{formatDateTime(payment.created_at)}</dd>
        </div>
      </dl>
      <DataTable
        caption="Ledger, oldest first"
        rows={payment.ledger}
        rowKey={(e) => String(e.id)}
        loading={false}
        empty="No money has moved yet."
        columns={[
          { key: 'at', header: 'When', render: (e) => formatDateTime(e.created_at) },
          { key: 'kind', header: 'Entry', render: (e) => e.kind },
          { key: 'amount', header: 'Amount', className: 'num', render: (e) => (e.kind === 'refund' ? `−${money(e.amount)}` : money(e.amount)) },
          { key: 'ref', header: 'Reference', render: (e) => e.psp_reference ?? (e.refund_id ? <code>{e.refund_id.slice(0, 8)}</code> : '—') },
        ]}
      />
      <table className="totals" data-testid="ledger-totals">
        <caption>Totals</caption>
        <tbody>
          <tr>
            <th scope="row">Authorized</th>
            <td className="num">{money(r.authorized)}</td>
          </tr>
          <tr>
            <th scope="row">Captured</th>
            <td className="num">{money(r.captured)}</td>
          </tr>
          <tr>
            <th scope="row">Voided</th>
            <td className="num">{money(r.voided)}</td>
          </tr>
          <tr>
            <th scope="row">Refunded</th>
            <td className="num" data-testid="ledger-refunded">
              {money(r.refunded)}
            </td>
          </tr>
          <tr>
            <th scope="row">Net (captured − refunded)</th>
            <td className="num">{money(r.net)}</td>
          </tr>
        </tbody>
      </table>
      <p className={ok ? 'reconcile ok' : 'reconcile bad'} data-testid="reconcile" role="status">
        {ok
          ? 'Totals reconcile: the ledger adds up and matches the balance.'
          : !r.matchesApi
            ? "Totals do not reconcile: the ledger's sums differ from the balance the payments service reports."
            : 'Totals do not reconcile: more was captured, voided or refunded than authorized or captured.'}
      </p>
    </div>
  );
}

/** Refund all or part of a captured payment, with a confirmation step. */
export function RefundDialog({ orderId, payment, onClose, onRefunded }: { orderId: string; payment: PaymentDetail; onClose: () => void; onRefunded: (r: Refund) => void }) {
  const api = useApi();
  const notify = useNotify();
  const refundable = reconcile(payment).refundable;
  // One key per refund the admin means: a retry after a lost answer cannot refund twice.
  const [key] = useState(newIdempotencyKey);
  const [form, setForm] = useState<RefundForm>({ mode: 'full', amount: '', reason: '' });
  const [step, setStep] = useState<'form' | 'confirm'>('form');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const checked = validateRefundForm(form, payment.currency, refundable);
  const amount = checked.ok ? (checked.value.amount ?? refundable) : 0;

  const review = (event: FormEvent) => {
    event.preventDefault();
    if (!checked.ok) {
      setError(validationError(checked.errors));
      return;
    }
    setError(null);
    setStep('confirm');
  };

  const refund = async () => {
    if (!checked.ok) return;
    setBusy(true);
    setError(null);
    try {
      const done = await api.refund(orderId, checked.value, key);
      notify(`Refunded ${formatAmount(done.amount, done.currency)}.`);
      onRefunded(done);
      onClose();
    } catch (e) {
      setError(toApiError(e));
      setStep('form');
      setBusy(false);
    }
  };

  return (
    <Modal title="Refund payment" onClose={onClose} busy={busy}>
      {step === 'form' ? (
        <form onSubmit={review} noValidate>
          <FormErrorSummary error={error} fields={['amount', 'reason']} />
          <p>
            Captured {formatAmount(reconcile(payment).captured, payment.currency)}; not yet refunded{' '}
            <strong>{formatAmount(refundable, payment.currency)}</strong>.
          </p>
          <fieldset>
            <legend>How much</legend>
            <div className="radio">
              <input
                type="radio"
                id="refund-full"
                name="refund-mode"
                checked={form.mode === 'full'}
                onChange={() => setForm((f) => ({ ...f, mode: 'full' }))}
                autoFocus
              />
              <label htmlFor="refund-full">Full refund ({formatAmount(refundable, payment.currency)})</label>
            </div>
            <div className="radio">
              <input type="radio" id="refund-partial" name="refund-mode" checked={form.mode === 'partial'} onChange={() => setForm((f) => ({ ...f, mode: 'partial' }))} />
              <label htmlFor="refund-partial">Partial refund</label>
            </div>
          </fieldset>
          {form.mode === 'partial' ? (
            <TextField
              id="refund-amount"
              label={`Amount (${payment.currency})`}
              inputMode="decimal"
              value={form.amount}
              onChange={(e) => setForm((f) => ({ ...f, amount: e.target.value }))}
              errors={error?.errorsFor('amount')}
              required
            />
          ) : error?.errorsFor('amount').length ? (
            <p className="field-error">{error.errorsFor('amount').join('; ')}</p>
          ) : null}
          <TextField
            id="refund-reason"
            label="Reason"
            value={form.reason}
            onChange={(e) => setForm((f) => ({ ...f, reason: e.target.value }))}
            errors={error?.errorsFor('reason')}
            required
          />
          <div className="modal-actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="primary">
              Review refund
            </button>
          </div>
        </form>
      ) : (
        <div>
          <p>
            Refund <strong data-testid="refund-confirm-amount">{formatAmount(amount, payment.currency)}</strong> to the customer for order{' '}
            <code>{orderId.slice(0, 8)}</code>? Reason: “{form.reason.trim()}”. This cannot be undone.
          </p>
          <div className="modal-actions">
            <button type="button" data-cancel onClick={() => setStep('form')} disabled={busy} autoFocus>
              Back
            </button>
            <button type="button" className="danger" onClick={() => void refund()} disabled={busy} aria-busy={busy}>
              {busy ? 'Refunding…' : `Refund ${formatAmount(amount, payment.currency)}`}
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}
