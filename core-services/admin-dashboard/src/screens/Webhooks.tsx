/** Partner webhook subscriptions: list and create; the signing secret is shown once. */

import { useState } from 'react';

import { EVENT_TYPES, type SubscriptionWithSecret } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { CursorTable } from '../components/DataTable';
import { TextField } from '../components/Field';
import { Modal, ModalActions } from '../components/Modal';
import { FormErrorSummary } from '../components/Status';
import { useApi, useNotify } from '../context';
import { formatDateTime } from '../lib/dates';
import { useCursorList, useSubmit } from '../lib/hooks';
import { Link, navigate } from '../lib/router';
import { validateWebhookForm, type WebhookForm } from '../lib/validation';

/** Shows a new signing secret once, with a copy button. */
export function SecretDialog({ created, onClose }: { created: SubscriptionWithSecret; onClose: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Copying is not allowed here: select the secret and copy it by hand.');
    }
  };
  return (
    <Modal title="Signing secret" onClose={onClose}>
      <p>
        Give this secret to the partner behind <code>{created.subscription.url}</code>. It signs every delivery (HMAC-SHA256). It is shown{' '}
        <strong>only now</strong>.
      </p>
      <div className="field">
        <label htmlFor="webhook-secret">Secret</label>
        <input id="webhook-secret" readOnly value={created.secret} className="mono" data-testid="webhook-secret" onFocus={(e) => e.target.select()} />
      </div>
      <p role="status" className="muted small">
        {copied ?? ''}
      </p>
      <div className="modal-actions">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" className="primary" onClick={onClose}>
          I have stored it
        </button>
      </div>
    </Modal>
  );
}

const FIELDS = ['url', 'event_types', 'description'];

function CreateWebhook({ onCreated, onClose }: { onCreated: (c: SubscriptionWithSecret) => void; onClose: () => void }) {
  const api = useApi();
  const [form, setForm] = useState<WebhookForm>({ url: '', eventTypes: [], description: '' });
  const { error, busy, onSubmit } = useSubmit(
    () => validateWebhookForm(form),
    async (value) => onCreated(await api.createWebhook(value)),
  );
  const toggle = (type: string, on: boolean) =>
    setForm((f) => ({ ...f, eventTypes: on ? [...f.eventTypes, type] : f.eventTypes.filter((t) => t !== type) }));
  const typeErrors = error?.errorsFor('event_types') ?? [];
  return (
    <Modal title="New webhook subscription" onClose={onClose} busy={busy} wide>
      <form onSubmit={onSubmit} noValidate>
        <FormErrorSummary error={error} fields={FIELDS} />
        <TextField
          id="wh-url"
          label="Endpoint URL"
          type="url"
          value={form.url}
          onChange={(e) => setForm((f) => ({ ...f, url: e.target.value }))}
          errors={error?.errorsFor('url')}
          required
          hint="The partner's HTTPS endpoint that receives signed POSTs."
        />
        <TextField
          id="wh-description"
          label="Description"
          value={form.description}
          onChange={(e) => setForm((f) => ({ ...f, description: e.target.value }))}
          errors={error?.errorsFor('description')}
        />
        <fieldset aria-describedby={typeErrors.length ? 'wh-types-error' : 'wh-types-hint'}>
          <legend>Events</legend>
          <p className="hint" id="wh-types-hint">
            None ticked means every event.
          </p>
          <div className="checks">
            {EVENT_TYPES.map((type) => (
              <div className="field-check" key={type}>
                <input type="checkbox" id={`wh-type-${type}`} checked={form.eventTypes.includes(type)} onChange={(e) => toggle(type, e.target.checked)} />
                <label htmlFor={`wh-type-${type}`}>{type}</label>
              </div>
            ))}
          </div>
          {typeErrors.length ? (
            <p className="field-error" id="wh-types-error">
              {typeErrors.join('; ')}
            </p>
          ) : null}
        </fieldset>
        <ModalActions busy={busy} onCancel={onClose} label="Create subscription" busyLabel="Creating…" />
      </form>
    </Modal>
  );
}

export function Webhooks() {
  const api = useApi();
  const notify = useNotify();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<SubscriptionWithSecret | null>(null);
  const list = useCursorList((cursor, limit, signal) => api.webhooks(cursor, limit, signal), []);
  return (
    <section aria-labelledby="webhooks-title">
      <div className="page-head">
        <h1 id="webhooks-title" tabIndex={-1}>
          Webhooks
        </h1>
        <div className="actions">
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New subscription
          </button>
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        </div>
      </div>
      <CursorTable
        caption="Partner subscriptions"
        hiddenCaption
        list={list}
        rowKey={(s) => s.id}
        empty="No partner has subscribed yet."
        columns={[
          { key: 'url', header: 'Endpoint', render: (s) => <Link to={`/webhooks/${s.id}`}>{s.url}</Link> },
          { key: 'description', header: 'Description', render: (s) => s.description || '—' },
          { key: 'events', header: 'Events', render: (s) => (s.event_types.length ? s.event_types.join(', ') : 'all') },
          { key: 'status', header: 'Status', render: (s) => <StatusBadge status={s.status} /> },
          { key: 'created', header: 'Created', render: (s) => formatDateTime(s.created_at) },
        ]}
      />
      {creating ? (
        <CreateWebhook
          onClose={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
            notify('Subscription created.');
            list.reload();
          }}
        />
      ) : null}
      {created ? (
        <SecretDialog
          created={created}
          onClose={() => {
            const id = created.subscription.id;
            setCreated(null);
            navigate(`/webhooks/${id}`);
          }}
        />
      ) : null}
    </section>
  );
}
