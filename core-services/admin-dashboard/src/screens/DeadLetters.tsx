/** Dead letters per owning service and queue: inspect a message and why it failed; replay or discard. */

import { useState } from 'react';

import { DLQ_SERVICES, type DeadLetter } from '../api/types';
import { DataTable } from '../components/DataTable';
import { ConfirmDialog } from '../components/Modal';
import { ErrorState, Loading } from '../components/Status';
import { useApi, useNotify } from '../context';
import { useAsync } from '../lib/hooks';
import { localPager, slicePage } from '../lib/paging';

const PAGE = 50;

interface Selected {
  service: string;
  queue: string;
}

/** A message body for people: JSON pretty-printed, text as is. */
export function bodyText(body: unknown): string {
  if (typeof body === 'string') {
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      return body;
    }
  }
  return JSON.stringify(body, null, 2) ?? String(body);
}

function ServiceQueues({ service, selected, onSelect, refresh }: { service: string; selected: Selected | null; onSelect: (s: Selected) => void; refresh: number }) {
  const api = useApi();
  const queues = useAsync((signal) => api.deadLetterQueues(service, signal), [service, refresh]);
  return (
    <section className="dlq-service" aria-labelledby={`dlq-${service}`}>
      <h3 id={`dlq-${service}`}>{service}</h3>
      {queues.status === 'error' ? (
        <ErrorState error={queues.error} onRetry={queues.reload} title={`Could not read ${service}'s dead letters`} />
      ) : !queues.data ? (
        <Loading />
      ) : queues.data.items.length === 0 ? (
        <p className="muted">No dead-letter queues.</p>
      ) : (
        <ul className="queue-list">
          {queues.data.items.map((q) => {
            const active = selected?.service === service && selected.queue === q.queue;
            return (
              <li key={q.queue}>
                <button type="button" className={`queue${active ? ' active' : ''}`} aria-pressed={active} onClick={() => onSelect({ service, queue: q.queue })}>
                  <span className="mono">{q.queue}</span>
                  <span className={`badge ${q.depth > 0 ? 'badge-bad' : 'badge-ok'}`}>{q.depth.toLocaleString()}</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function Messages({ selected, onChanged }: { selected: Selected; onChanged: () => void }) {
  const api = useApi();
  const notify = useNotify();
  const [page, setPage] = useState(0);
  const [inspecting, setInspecting] = useState<DeadLetter | null>(null);
  const [action, setAction] = useState<'replay' | 'discard' | null>(null);
  const messages = useAsync((signal) => api.deadLetters(selected.service, selected.queue, signal), [selected.service, selected.queue]);
  const items = messages.data?.items;
  const { rows, page: current, pages } = slicePage(items ?? [], page, PAGE);

  const done = () => {
    setInspecting(null);
    messages.reload();
    onChanged();
  };

  return (
    <section className="panel" aria-labelledby="dlq-messages">
      <h2 id="dlq-messages">
        Messages in <code>{selected.queue}</code> ({selected.service})
      </h2>
      <DataTable
        caption={`Dead letters in ${selected.queue}`}
        hiddenCaption
        rows={items ? rows : undefined}
        rowKey={(m) => m.id}
        loading={messages.status === 'loading'}
        error={messages.status === 'error' ? messages.error : undefined}
        onRetry={messages.reload}
        empty="This queue is empty."
        columns={[
          { key: 'id', header: 'Message', render: (m) => <code>{m.id}</code> },
          { key: 'type', header: 'Event type', render: (m) => m.event_type ?? '—' },
          { key: 'error', header: 'Failure', render: (m) => (m.error ? <span className="clamp">{m.error}</span> : '—') },
          {
            key: 'inspect',
            header: <span className="visually-hidden">Actions</span>,
            render: (m) => (
              <button type="button" className="link-button" onClick={() => setInspecting(m)} aria-label={`Inspect message ${m.id}`}>
                Inspect
              </button>
            ),
          },
        ]}
        pager={localPager(current, pages, setPage)}
      />
      {inspecting ? (
        <section className="inspect" aria-labelledby="dlq-inspect">
          <h3 id="dlq-inspect">
            Message <code>{inspecting.id}</code>
          </h3>
          <dl className="facts">
            <div>
              <dt>Event type</dt>
              <dd>{inspecting.event_type ?? 'unknown'}</dd>
            </div>
            <div>
              <dt>Why it failed</dt>
              <dd data-testid="dlq-error">{inspecting.error ?? 'no reason recorded'}</dd>
            </div>
          </dl>
          <h4>Body</h4>
          <pre className="body" tabIndex={0} aria-label="Message body">
            {bodyText(inspecting.body)}
          </pre>
          <div className="actions">
            <button type="button" className="primary" onClick={() => setAction('replay')}>
              Replay
            </button>
            <button type="button" className="danger" onClick={() => setAction('discard')}>
              Discard
            </button>
            <button type="button" onClick={() => setInspecting(null)}>
              Close
            </button>
          </div>
        </section>
      ) : null}
      {inspecting && action === 'replay' ? (
        <ConfirmDialog
          title="Replay this message?"
          confirmLabel="Replay"
          onClose={() => setAction(null)}
          onConfirm={async () => {
            const result = await api.replayDeadLetter(selected.service, selected.queue, inspecting.id);
            notify(`Replayed ${result.replayed} message${result.replayed === 1 ? '' : 's'}.`);
            done();
          }}
        >
          <p>The message goes back to its queue and is handled again. Handlers are idempotent, so an event already applied changes nothing.</p>
        </ConfirmDialog>
      ) : null}
      {inspecting && action === 'discard' ? (
        <ConfirmDialog
          title="Discard this message?"
          confirmLabel="Discard"
          danger
          onClose={() => setAction(null)}
          onConfirm={async () => {
            await api.discardDeadLetter(selected.service, selected.queue, inspecting.id);
            notify('Message discarded.');
            done();
          }}
        >
          <p>The message is deleted for good and never handled.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

export function DeadLetters() {
  const [selected, setSelected] = useState<Selected | null>(null);
  const [refresh, setRefresh] = useState(0);
  return (
    <section aria-labelledby="dlq-title">
      <div className="page-head">
        <h1 id="dlq-title" tabIndex={-1}>
          Dead letters
        </h1>
        <button type="button" onClick={() => setRefresh((n) => n + 1)}>
          Refresh
        </button>
      </div>
      <div className="panel">
        <h2>Queues by owning service</h2>
        <div className="dlq-services">
          {DLQ_SERVICES.map((service) => (
            <ServiceQueues key={service} service={service} selected={selected} onSelect={setSelected} refresh={refresh} />
          ))}
        </div>
      </div>
      {selected ? (
        <Messages key={`${selected.service}/${selected.queue}`} selected={selected} onChanged={() => setRefresh((n) => n + 1)} />
      ) : (
        <p className="muted">Choose a queue to see its messages.</p>
      )}
    </section>
  );
}
