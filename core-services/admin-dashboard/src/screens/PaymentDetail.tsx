/** The payment of one order: intent, ledger, totals that reconcile, refunds. */

import { useState } from 'react';

import { ErrorState, Loading } from '../components/Status';
import { useApi } from '../context';
import { useAsync } from '../lib/hooks';
import { Link } from '../lib/router';
import { PaymentPanel, reconcile, RefundDialog } from './PaymentPanel';

export function PaymentDetailScreen({ orderId }: { orderId: string }) {
  const api = useApi();
  const payment = useAsync((signal) => api.payment(orderId, signal), [orderId]);
  const [refunding, setRefunding] = useState(false);
  const p = payment.data;
  return (
    <section aria-labelledby="payment-title">
      <p className="crumbs">
        <Link to="/payments">Payments</Link> /
      </p>
      <div className="page-head">
        <h1 id="payment-title" tabIndex={-1}>
          Payment for order <code>{orderId.slice(0, 8)}</code>
        </h1>
        <div className="actions">
          <Link to={`/orders/${orderId}`}>Open the order</Link>
          <button type="button" onClick={payment.reload}>
            Refresh
          </button>
          <button type="button" className="primary" disabled={!p || reconcile(p).refundable <= 0} onClick={() => setRefunding(true)}>
            Refund
          </button>
        </div>
      </div>
      {payment.status === 'error' && !p ? (
        <ErrorState error={payment.error} onRetry={payment.reload} title={payment.error.status === 404 ? 'No payment for this order' : undefined} />
      ) : !p ? (
        <Loading label="Loading payment…" />
      ) : (
        <div className="panel">
          <PaymentPanel payment={p} />
        </div>
      )}
      {refunding && p ? <RefundDialog orderId={orderId} payment={p} onClose={() => setRefunding(false)} onRefunded={payment.reload} /> : null}
    </section>
  );
}
