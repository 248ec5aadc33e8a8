/** Payments: intents, newest first, filtered by state. */

import { useState } from 'react';

import { PAYMENT_STATUSES } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { CursorTable } from '../components/DataTable';
import { SelectField } from '../components/Field';
import { useApi } from '../context';
import { formatDateTime } from '../lib/dates';
import { useCursorList } from '../lib/hooks';
import { formatAmount } from '../lib/money';
import { Link } from '../lib/router';

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
    </section>
  );
}
