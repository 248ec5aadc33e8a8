/** Today at a glance: orders, sales, money captured and refunded, saga outcomes, low stock, dead letters. */

import { useMemo, useState } from 'react';

import { toApiError, type ApiError } from '../api/problem';
import { DLQ_SERVICES, type DeadLetterQueue } from '../api/types';
import { BarChart, DonutChart } from '../components/Charts';
import { DataTable } from '../components/DataTable';
import { ErrorState, Loading } from '../components/Status';
import { useApi } from '../context';
import { todayWindow } from '../lib/dates';
import { useAsync } from '../lib/hooks';
import { reasonLabel } from '../lib/labels';
import { formatMoney } from '../lib/money';
import { Link } from '../lib/router';

const STATUS_TONE: Record<string, number> = { PENDING: 2, RESERVED: 3, PAID: 4, CONFIRMED: 0, SHIPPED: 5, CANCELLED: 1 };

function OrdersToday({ refresh }: { refresh: number }) {
  const api = useApi();
  const range = useMemo(() => todayWindow(), [refresh]);
  const summary = useAsync((signal) => api.ordersSummary(range.from, range.to, signal), [range.from, range.to]);

  if (summary.status === 'error') return <ErrorState error={summary.error} onRetry={summary.reload} title="Could not load today's orders" />;
  if (!summary.data) return <Loading label="Loading today's orders…" />;
  const s = summary.data;
  const count = (status: string) => s.by_status.find((b) => b.status === status)?.count ?? 0;
  const confirmed = count('CONFIRMED') + count('SHIPPED');
  const cancelled = count('CANCELLED');
  const inFlight = count('PENDING') + count('RESERVED') + count('PAID');
  return (
    <>
      <dl className="kpis">
        <div className="kpi">
          <dt>Orders placed today</dt>
          <dd data-testid="orders-today">{s.orders_placed.toLocaleString()}</dd>
        </div>
        <div className="kpi">
          <dt>Sales today (confirmed orders)</dt>
          <dd data-testid="revenue-today">
            {s.revenue.length === 0 ? formatMoney({ amount: 0, currency: 'EUR' }) : s.revenue.map((r) => <span key={r.currency}>{formatMoney(r)} </span>)}
          </dd>
        </div>
        <div className="kpi">
          <dt>Confirmed</dt>
          <dd>{confirmed.toLocaleString()}</dd>
        </div>
        <div className="kpi">
          <dt>Cancelled</dt>
          <dd>{cancelled.toLocaleString()}</dd>
        </div>
        <div className="kpi">
          <dt>In flight</dt>
          <dd>{inFlight.toLocaleString()}</dd>
        </div>
      </dl>
      <div className="charts">
        <DonutChart
          title="Saga outcomes today"
          data={[
            { label: 'Confirmed (incl. shipped)', value: confirmed, tone: 0 },
            { label: 'Cancelled', value: cancelled, tone: 1 },
            { label: 'Still in flight', value: inFlight, tone: 2 },
          ]}
          emptyText="No orders placed today yet."
        />
        <BarChart
          title="Orders today by status"
          data={s.by_status.map((b) => ({ label: b.status, value: b.count, tone: STATUS_TONE[b.status] ?? 6 }))}
          emptyText="No orders placed today yet."
        />
        <BarChart
          title="Why orders were cancelled today"
          data={s.cancellations.map((c, i) => ({ label: reasonLabel(c.reason), value: c.count, tone: (i + 1) % 8 }))}
          emptyText="No cancellations today."
        />
      </div>
    </>
  );
}

function LowStock({ refresh }: { refresh: number }) {
  const api = useApi();
  const low = useAsync((signal) => api.inventory(true, null, 10, signal), [refresh]);
  return (
    <DataTable
      caption="Lowest-stock SKUs (first 10)"
      columns={[
        { key: 'sku', header: 'SKU', render: (r) => <code>{r.sku}</code> },
        { key: 'available', header: 'Available', className: 'num', render: (r) => r.available.toLocaleString() },
        { key: 'reserved', header: 'Reserved', className: 'num', render: (r) => r.reserved.toLocaleString() },
        { key: 'threshold', header: 'Low at', className: 'num', render: (r) => r.low_threshold.toLocaleString() },
      ]}
      rows={low.data?.items}
      rowKey={(r) => r.sku}
      loading={low.status === 'loading'}
      error={low.status === 'error' ? low.error : undefined}
      onRetry={low.reload}
      empty="No SKU is at or below its low-stock threshold."
    />
  );
}

interface ServiceQueues {
  service: string;
  queues?: DeadLetterQueue[];
  error?: ApiError;
}

function DeadLetterCounts({ refresh }: { refresh: number }) {
  const api = useApi();
  const result = useAsync(
    (signal) =>
      Promise.all(
        DLQ_SERVICES.map(async (service): Promise<ServiceQueues> => {
          try {
            return { service, queues: (await api.deadLetterQueues(service, signal)).items };
          } catch (error) {
            return { service, error: toApiError(error) };
          }
        }),
      ),
    [refresh],
  );
  if (result.status === 'error') return <ErrorState error={result.error} onRetry={result.reload} />;
  if (!result.data) return <Loading label="Loading dead letters…" />;
  const rows = result.data;
  const data = rows.flatMap((r) => (r.queues ?? []).map((q) => ({ label: `${r.service}: ${q.queue}`, value: q.depth, tone: q.depth > 0 ? 1 : 0 })));
  const total = data.reduce((sum, d) => sum + d.value, 0);
  const failed = rows.filter((r) => r.error).length;
  return (
    <>
      {failed === rows.length ? (
        <p>Dead-letter counts are unavailable right now.</p>
      ) : (
        <>
          <p>
            <strong data-testid="dead-letters-total">{total.toLocaleString()}</strong> message{total === 1 ? '' : 's'} waiting in dead-letter
            queues{failed ? ` (${failed} service${failed === 1 ? '' : 's'} not answering)` : ''}. <Link to="/dead-letters">Inspect dead letters</Link>
          </p>
          <BarChart title="Dead letters by queue" data={data} emptyText="No dead-letter queues reported." />
        </>
      )}
      {rows
        .filter((r) => r.error)
        .map((r) => (
          <ErrorState key={r.service} error={r.error as ApiError} title={`Could not read ${r.service} dead letters`} onRetry={result.reload} />
        ))}
    </>
  );
}

/** What the payments ledger booked today: captured, refunded and kept, per currency. */
export function MoneyToday({ refresh }: { refresh: number }) {
  const api = useApi();
  const range = useMemo(() => todayWindow(), [refresh]);
  const summary = useAsync((signal) => api.paymentsSummary(range.from, range.to, signal), [range.from, range.to]);

  if (summary.status === 'error') return <ErrorState error={summary.error} onRetry={summary.reload} title="Could not load today's payments" />;
  if (!summary.data) return <Loading label="Loading today's payments…" />;
  const rows = summary.data.currencies.length
    ? summary.data.currencies
    : [{ currency: 'EUR', captured: 0, refunded: 0, net: 0, captures: 0, refunds: 0 }];
  const money = (pick: (m: (typeof rows)[number]) => number) =>
    rows.map((m) => <span key={m.currency}>{formatMoney({ amount: pick(m), currency: m.currency })} </span>);
  return (
    <dl className="kpis">
      <div className="kpi">
        <dt>Captured today</dt>
        <dd data-testid="captured-today">{money((m) => m.captured)}</dd>
      </div>
      <div className="kpi">
        <dt>Refunded today</dt>
        <dd data-testid="refunded-today">{money((m) => m.refunded)}</dd>
      </div>
      <div className="kpi">
        <dt>Net today (captured − refunded)</dt>
        <dd data-testid="net-today">{money((m) => m.net)}</dd>
      </div>
    </dl>
  );
}

export function Overview() {
  const [refresh, setRefresh] = useState(0);
  return (
    <section aria-labelledby="overview-title">
      <div className="page-head">
        <h1 id="overview-title" tabIndex={-1}>
          Overview
        </h1>
        <button type="button" onClick={() => setRefresh((n) => n + 1)}>
          Refresh
        </button>
      </div>
      <section className="panel" aria-labelledby="ov-orders">
        <h2 id="ov-orders">Orders and revenue today</h2>
        <OrdersToday refresh={refresh} />
      </section>
      <section className="panel" aria-labelledby="ov-money">
        <h2 id="ov-money">Money today</h2>
        <MoneyToday refresh={refresh} />
      </section>
      <div className="two-col">
        <section className="panel" aria-labelledby="ov-stock">
          <h2 id="ov-stock">Low stock</h2>
          <LowStock refresh={refresh} />
          <p>
            <Link to="/inventory">All inventory</Link>
          </p>
        </section>
        <section className="panel" aria-labelledby="ov-dlq">
          <h2 id="ov-dlq">Dead letters</h2>
          <DeadLetterCounts refresh={refresh} />
        </section>
      </div>
    </section>
  );
}
