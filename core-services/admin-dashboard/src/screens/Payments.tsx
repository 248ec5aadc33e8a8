/** Payments: intents, newest first, filtered by state. */

import { useState } from 'react';

import { toApiError, type ApiError } from '../api/problem';
import { PAYMENT_STATUSES, type Reconciliation } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { CursorTable, DataTable } from '../components/DataTable';
import { SelectField } from '../components/Field';
import { ErrorState } from '../components/Status';
import { useApi } from '../context';
import { formatDateTime, toRfc3339 } from '../lib/dates';
import { useCursorList } from '../lib/hooks';
import { formatAmount } from '../lib/money';
import { Link } from '../lib/router';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The ledger checked against Stripe's PaymentIntents of the last 24 hours, on demand. */
export function ProviderReconciliation() {
  const api = useApi();
  const [report, setReport] = useState<Reconciliation | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    const now = new Date();
    try {
      setReport(await api.reconciliation(toRfc3339(new Date(now.getTime() - DAY_MS)), toRfc3339(new Date(now.getTime() + 60_000))));
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="pay-reconcile">
      <h2 id="pay-reconcile">Reconciliation with Stripe</h2>
      <p>Compares every payment of the last 24 hours and its ledger with Stripe's PaymentIntents.</p>
      <button type="button" onClick={() => void run()} disabled={busy}>
        {busy ? 'Checking…' : 'Check the last 24 hours'}
      </button>
      {error ? <ErrorState error={error} onRetry={() => void run()} title="Could not compare with Stripe" /> : null}
      {report ? (
        <div data-testid="provider-reconciliation">
          <p role="status">
            {report.differences.length === 0
              ? `Ledger and Stripe agree: ${report.payments_checked} payments, ${report.intents_checked} PaymentIntents.`
              : `${report.differences.length} difference${report.differences.length === 1 ? '' : 's'} in ${report.payments_checked} payments and ${report.intents_checked} PaymentIntents.`}
          </p>
          {report.differences.length ? (
            <DataTable
              caption="Differences between the ledger and Stripe"
              rows={report.differences}
              rowKey={(d) => `${d.kind}-${d.payment_id ?? ''}-${d.intent_id ?? ''}`}
              empty="None."
              loading={false}
              columns={[
                { key: 'kind', header: 'Difference', render: (d) => d.kind.replaceAll('_', ' ') },
                {
                  key: 'order',
                  header: 'Order',
                  render: (d) =>
                    d.order_id ? (
                      <Link to={`/payments/${d.order_id}`}>
                        <code>{d.order_id.slice(0, 8)}</code>…
                      </Link>
                    ) : (
                      '—'
                    ),
                },
                { key: 'intent', header: 'PaymentIntent', render: (d) => d.intent_id ?? '—' },
                { key: 'ours', header: 'Ledger', render: (d) => d.ours },
                { key: 'provider', header: 'Stripe', render: (d) => d.provider },
              ]}
            />
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

export function Payments() {
  const api = useApi();
  const [status, setStatus] = useState('');
  const list = useCursorList((cursor, limit, signal) => api.payments(status || undefined, cursor, limit, signal), [status]);
  return (
    <section aria-labelledby="payments-title">
      <div className="page-head">
        <h1 id="payments-title" tabIndex={-1}>
          Payments
        </h1>
      </div>
      <div className="panel filters">
        <SelectField id="pay-status" label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">Any status</option>
          {PAYMENT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
        <div className="filter-actions">
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        </div>
      </div>
      <CursorTable
        caption="Payment intents, newest first"
        hiddenCaption
        list={list}
        rowKey={(p) => p.id}
        empty="No payments match."
        columns={[
          {
            key: 'order',
            header: 'Order',
            render: (p) => (
              <Link to={`/payments/${p.order_id}`} aria-label={`Payment for order ${p.order_id}`}>
                <code>{p.order_id.slice(0, 8)}</code>…
              </Link>
            ),
          },
          { key: 'created', header: 'Created', render: (p) => formatDateTime(p.created_at) },
          { key: 'status', header: 'Status', render: (p) => <StatusBadge status={p.status} /> },
          { key: 'amount', header: 'Amount', className: 'num', render: (p) => formatAmount(p.amount, p.currency) },
          { key: 'failure', header: 'Failure', render: (p) => p.failure_reason ?? '—' },
          { key: 'ref', header: 'Provider reference', render: (p) => p.psp_reference ?? '—' },
        ]}
      />
      <ProviderReconciliation />
    </section>
  );
}
