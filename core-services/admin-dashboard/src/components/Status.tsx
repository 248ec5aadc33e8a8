/** Loading, empty and error states: no screen is ever blank. */

import { useEffect, useRef, type ReactNode } from 'react';

import { unmatchedErrors, type ApiError, type FieldError } from '../api/problem';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <div className="state state-empty" role="status">
      {children}
    </div>
  );
}

/** A problem's field errors as a list (nothing when there are none). */
function ProblemErrors({ errors }: { errors: readonly FieldError[] }) {
  if (!errors.length) return null;
  return (
    <ul>
      {errors.map((e, i) => (
        <li key={`${e.field}-${i}`}>
          {e.field ? <code>{e.field}</code> : null} {e.message}
        </li>
      ))}
    </ul>
  );
}

/** Title, detail, field errors and request id of a failed call, with a retry. */
export function ErrorState({ error, onRetry, title }: { error: ApiError; onRetry?: () => void; title?: string }) {
  const p = error.problem;
  return (
    <div className="state state-error" role="alert">
      <p className="error-title">
        <strong>{title ?? p.title}</strong>
        {p.status ? <span className="muted"> (HTTP {p.status})</span> : null}
      </p>
      {p.detail ? <p>{p.detail}</p> : null}
      <ProblemErrors errors={p.errors} />
      {p.request_id ? <p className="muted small">Request id: {p.request_id}</p> : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/**
 * The top-of-form summary of a failed submit: the problem and any field errors that no field
 * on the form shows. Takes focus so keyboard and screen-reader users land on it.
 */
export function FormErrorSummary({ error, fields }: { error: ApiError | null; fields: readonly string[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error) ref.current?.focus();
  }, [error]);
  if (!error) return null;
  const p = error.problem;
  const rest = unmatchedErrors(p.errors, fields);
  const onForm = p.errors.length - rest.length;
  return (
    <div className="form-errors" role="alert" tabIndex={-1} ref={ref}>
      <p>
        <strong>{p.title}</strong>
        {p.detail && p.errors.length === 0 ? `: ${p.detail}` : null}
      </p>
      {onForm > 0 ? <p>{onForm === 1 ? 'One field needs' : `${onForm} fields need`} attention; see the messages below each field.</p> : null}
      <ProblemErrors errors={rest} />
      {p.request_id ? <p className="muted small">Request id: {p.request_id}</p> : null}
    </div>
  );
}
