/** Orders: filter by status, date and customer; cursor paging. */

import { useState, type FormEvent } from 'react';

import { validationError, type ApiError } from '../api/problem';
import { ORDER_STATUSES } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { CursorTable } from '../components/DataTable';
import { SelectField, TextField } from '../components/Field';
import { FormErrorSummary } from '../components/Status';
import { useApi } from '../context';
import { dateInputToRfc3339, formatDateTime } from '../lib/dates';
import { useCursorList } from '../lib/hooks';
import { reasonLabel } from '../lib/labels';
import { formatAmount } from '../lib/money';
import { Link } from '../lib/router';

interface OrderFilter {
  status?: string;
  customer_id?: string;
  from?: string;
  to?: string;
}

const FIELDS = ['status', 'customer_id', 'from', 'to', 'limit', 'cursor'];

export function Orders() {
  const api = useApi();
  const [form, setForm] = useState({ status: '', customer: '', from: '', to: '' });
  const [filter, setFilter] = useState<OrderFilter>({});
  const [formError, setFormError] = useState<ApiError | null>(null);
  const list = useCursorList((cursor, limit, signal) => api.orders(filter, cursor, limit, signal), [filter]);
  const listError = list.state.status === 'error' ? list.state.error : null;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next: OrderFilter = {};
    const errors = [];
    if (form.status) next.status = form.status;
    if (form.customer.trim()) next.customer_id = form.customer.trim();
    if (form.from) {
      const from = dateInputToRfc3339(form.from);
      if (from) next.from = from;
      else errors.push({ field: 'from', message: 'must be a date' });
    }
    if (form.to) {
      const to = dateInputToRfc3339(form.to, true);
      if (to) next.to = to;
      else errors.push({ field: 'to', message: 'must be a date' });
    }
    if (next.from && next.to && next.from >= next.to) errors.push({ field: 'to', message: 'must be on or after the start date' });
    if (errors.length) {
      setFormError(validationError(errors));
      return;
    }
    setFormError(null);
    setFilter(next);
  };
  const fieldError = (f: string) => formError?.errorsFor(f) ?? (listError?.status === 400 ? listError.errorsFor(f) : undefined);

  return (
    <section aria-labelledby="orders-title">
      <div className="page-head">
        <h1 id="orders-title" tabIndex={-1}>
          Orders
        </h1>
      </div>
      <form className="panel filters" onSubmit={submit} noValidate aria-label="Filter orders">
        <FormErrorSummary error={formError} fields={FIELDS} />
        <SelectField id="o-status" label="Status" value={form.status} onChange={(e) => setForm((f) => ({ ...f, status: e.target.value }))} errors={fieldError('status')}>
          <option value="">Any status</option>
          {ORDER_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
        <TextField id="o-from" label="Placed from" type="date" value={form.from} onChange={(e) => setForm((f) => ({ ...f, from: e.target.value }))} errors={fieldError('from')} />
        <TextField id="o-to" label="Placed until" type="date" value={form.to} onChange={(e) => setForm((f) => ({ ...f, to: e.target.value }))} errors={fieldError('to')} />
        <TextField
          id="o-customer"
          label="Customer id"
          value={form.customer}
          onChange={(e) => setForm((f) => ({ ...f, customer: e.target.value }))}
          errors={fieldError('customer_id')}
        />
        <div className="filter-actions">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button
            type="button"
            onClick={() => {
              setForm({ status: '', customer: '', from: '', to: '' });
              setFilter({});
              setFormError(null);
            }}
          >
            Clear
          </button>
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        </div>
      </form>
      <CursorTable
        caption="Orders, newest first"
        hiddenCaption
        list={list}
        rowKey={(o) => o.id}
        empty="No orders match these filters."
        columns={[
          {
            key: 'id',
            header: 'Order',
            render: (o) => (
              <Link to={`/orders/${o.id}`} aria-label={`Order ${o.id}`}>
                <code>{o.id.slice(0, 8)}</code>…
              </Link>
            ),
          },
          { key: 'placed', header: 'Placed', render: (o) => formatDateTime(o.created_at) },
          { key: 'customer', header: 'Customer', render: (o) => <code title={o.customer_id}>{o.customer_id.slice(0, 8)}…</code> },
          { key: 'status', header: 'Status', render: (o) => <StatusBadge status={o.status} /> },
          { key: 'reason', header: 'Cancel reason', render: (o) => (o.cancel_reason ? reasonLabel(o.cancel_reason) : '—') },
          { key: 'total', header: 'Total', className: 'num', render: (o) => formatAmount(o.total_amount, o.currency) },
        ]}
      />
    </section>
  );
}
