/** One subscription: rotate its secret, disable or enable it, and its delivery log. */

import { useState } from 'react';

import type { Subscription, SubscriptionWithSecret } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { CursorTable } from '../components/DataTable';
import { ConfirmDialog } from '../components/Modal';
import { ErrorState, Loading } from '../components/Status';
import { useApi, useNotify } from '../context';
import { formatDateTime } from '../lib/dates';
import { useAsync, useCursorList } from '../lib/hooks';
import { Link } from '../lib/router';
import { SecretDialog } from './Webhooks';

export function WebhookDetail({ id }: { id: string }) {
  const api = useApi();
  const notify = useNotify();
  const loaded = useAsync((signal) => api.webhook(id, signal), [id]);
  const [updated, setUpdated] = useState<Subscription | null>(null);
  const [dialog, setDialog] = useState<'rotate' | 'disable' | 'enable' | null>(null);
  const [secret, setSecret] = useState<SubscriptionWithSecret | null>(null);
  const deliveries = useCursorList((cursor, limit, signal) => api.deliveries(id, cursor, limit, signal), [id], 50);
  const sub = updated && updated.id === id ? updated : loaded.data;

  return (
    <section aria-labelledby="webhook-title">
      <p className="crumbs">
        <Link to="/webhooks">Webhooks</Link> /
      </p>
      <h1 id="webhook-title" tabIndex={-1}>
        Webhook subscription
      </h1>
      {!sub ? (
        loaded.status === 'error' ? (
          <ErrorState error={loaded.error} onRetry={loaded.reload} title={loaded.error.status === 404 ? 'No such subscription' : undefined} />
        ) : (
          <Loading label="Loading subscription…" />
        )
      ) : (
        <>
          <div className="panel">
            <dl className="facts">
              <div>
                <dt>Endpoint</dt>
                <dd>
                  <code>{sub.url}</code>
                </dd>
              </div>
              <div>
                <dt>Status</dt>
                <dd>
                  <StatusBadge status={sub.status} /> {sub.disabled_reason ? `(${sub.disabled_reason})` : ''}
                </dd>
              </div>
              <div>
                <dt>Events</dt>
                <dd>{sub.event_types.length ? sub.event_types.join(', ') : 'all events'}</dd>
              </div>
              <div>
                <dt>Description</dt>
                <dd>{sub.description || '—'}</dd>
              </div>
              <div>
                <dt>Created</dt>
                <dd>{formatDateTime(sub.created_at)}</dd>
              </div>
              <div>
                <dt>Updated</dt>
                <dd>{formatDateTime(sub.updated_at)}</dd>
              </div>
            </dl>
            <div className="actions">
              <button type="button" onClick={() => setDialog('rotate')}>
                Rotate secret
              </button>
              {sub.status === 'disabled' ? (
                <button type="button" onClick={() => setDialog('enable')}>
                  Enable
                </button>
              ) : (
                <button type="button" className="danger" onClick={() => setDialog('disable')}>
                  Disable
                </button>
              )}
            </div>
          </div>
          {dialog === 'rotate' ? (
            <ConfirmDialog
              title="Rotate the signing secret?"
              confirmLabel="Rotate secret"
              danger
              onClose={() => setDialog(null)}
              onConfirm={async () => {
                const result = await api.rotateWebhookSecret(sub.id);
                setUpdated(result.subscription);
                setSecret(result);
                notify('Secret rotated.');
              }}
            >
              <p>A new secret signs deliveries from now on. The partner must switch to it; the new secret is shown once.</p>
            </ConfirmDialog>
          ) : null}
          {dialog === 'disable' ? (
            <ConfirmDialog
              title="Disable this subscription?"
              confirmLabel="Disable"
              danger
              onClose={() => setDialog(null)}
              onConfirm={async () => {
                setUpdated(await api.disableWebhook(sub.id));
                notify('Subscription disabled: no more deliveries.');
              }}
            >
              <p>
                No more events are delivered to <code>{sub.url}</code> until it is enabled again.
              </p>
            </ConfirmDialog>
          ) : null}
          {dialog === 'enable' ? (
            <ConfirmDialog
              title="Enable this subscription?"
              confirmLabel="Enable"
              onClose={() => setDialog(null)}
              onConfirm={async () => {
                setUpdated(await api.enableWebhook(sub.id));
                notify('Subscription enabled.');
              }}
            >
              <p>
                Events are delivered to <code>{sub.url}</code> again.
              </p>
            </ConfirmDialog>
          ) : null}
          {secret ? <SecretDialog created={secret} onClose={() => setSecret(null)} /> : null}
        </>
      )}
      <section className="panel" aria-labelledby="deliveries-title">
        <div className="page-head">
          <h2 id="deliveries-title">Delivery log</h2>
          <button type="button" onClick={deliveries.reload}>
            Refresh
          </button>
        </div>
        <CursorTable
          caption="Deliveries, newest first"
          hiddenCaption
          list={deliveries}
          rowKey={(d) => `${d.delivery_id}-${d.attempt}`}
          empty="Nothing delivered yet."
          columns={[
            { key: 'at', header: 'When', render: (d) => formatDateTime(d.at) },
            { key: 'type', header: 'Event', render: (d) => d.event_type },
            { key: 'attempt', header: 'Attempt', className: 'num', render: (d) => d.attempt },
            { key: 'outcome', header: 'Outcome', render: (d) => <StatusBadge status={d.outcome} /> },
            { key: 'code', header: 'HTTP', className: 'num', render: (d) => d.status_code ?? '—' },
            { key: 'error', header: 'Error', render: (d) => d.error ?? '—' },
            { key: 'event', header: 'Event id', render: (d) => <code title={d.event_id}>{d.event_id.slice(0, 8)}…</code> },
          ]}
        />
      </section>
    </section>
  );
}
