/**
 * The signed-in operator's own account: who it is, a password change (which ends every other
 * session and continues this one with the new tokens), and "sign out everywhere".
 */

import { useState, type FormEvent } from 'react';

import { ApiError, toApiError, validationError, waitText } from '../api/problem';
import { TextField } from '../components/Field';
import { ConfirmDialog } from '../components/Modal';
import { ErrorState, FormErrorSummary, Loading } from '../components/Status';
import { useApi } from '../context';
import { formatDateTime } from '../lib/dates';
import { useAsync } from '../lib/hooks';
import { emptyPasswordForm, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, validatePasswordChange, type PasswordForm } from '../lib/validation';

const PASSWORD_FIELDS = ['current_password', 'new_password', 'repeat_password'] as const;

/** A 429 says how long to wait (`Retry-After`); other failures are shown as they are. */
export function passwordChangeError(error: unknown): ApiError {
  const e = toApiError(error);
  if (e.status !== 429) return e;
  const p = e.problem;
  const wait = p.retry_after_seconds !== undefined ? ` Try again in ${waitText(p.retry_after_seconds)}.` : ' Try again later.';
  return new ApiError({ ...p, title: 'Too many attempts', detail: `${p.detail ?? 'Too many wrong current passwords.'}${wait}` });
}

function ChangePassword({ username }: { username: string | undefined }) {
  const api = useApi();
  const [form, setForm] = useState<PasswordForm>(emptyPasswordForm);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const set = (key: keyof PasswordForm) => (value: string) => setForm((f) => ({ ...f, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(false);
    const checked = validatePasswordChange(form);
    if (!checked.ok) {
      setError(validationError(checked.errors));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // The client adopts the new session's tokens before this resolves.
      await api.changePassword(checked.value);
      setForm(emptyPasswordForm);
      setDone(true);
    } catch (e) {
      // A 401 (the session had already ended) signs out: this screen goes away.
      setError(passwordChangeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      <p className="muted">
        Every other session of your account ends (other browsers and devices must sign in with the new password); this one continues.
      </p>
      {done ? (
        <p className="notice-inline" role="status" data-testid="password-changed">
          Your password is changed. Every other session of your account has ended; this one continues.
        </p>
      ) : null}
      <form onSubmit={(e) => void submit(e)} noValidate className="form-narrow">
        <FormErrorSummary error={error} fields={PASSWORD_FIELDS} />
        {/* For password managers: which account this password belongs to. */}
        {username ? <input type="email" name="username" autoComplete="username" value={username} readOnly hidden /> : null}
        <TextField
          id="pw-current"
          label="Current password"
          type="password"
          name="current-password"
          autoComplete="current-password"
          value={form.current}
          onChange={(e) => set('current')(e.target.value)}
          errors={error?.errorsFor('current_password')}
          required
        />
        <TextField
          id="pw-new"
          label="New password"
          type="password"
          name="new-password"
          autoComplete="new-password"
          hint={`${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters, different from the current one.`}
          value={form.next}
          onChange={(e) => set('next')(e.target.value)}
          errors={error?.errorsFor('new_password')}
          required
        />
        <TextField
          id="pw-repeat"
          label="Repeat new password"
          type="password"
          name="repeat-password"
          autoComplete="new-password"
          value={form.repeat}
          onChange={(e) => set('repeat')(e.target.value)}
          errors={error?.errorsFor('repeat_password')}
          required
        />
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy} aria-busy={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}

function SignOutEverywhere() {
  const api = useApi();
  const [confirming, setConfirming] = useState(false);
  return (
    <section className="panel" aria-labelledby="everywhere-title">
      <h2 id="everywhere-title">Sign out everywhere</h2>
      <p>
        Ends every session of your account: in other browsers, on other devices, and this one. Use it when you signed in somewhere you should not
        have, or suspect someone else did. You will have to sign in again.
      </p>
      <button type="button" className="danger" onClick={() => setConfirming(true)}>
        Sign out everywhere…
      </button>
      {confirming ? (
        <ConfirmDialog
          title="Sign out everywhere?"
          confirmLabel="Sign out everywhere"
          danger
          onClose={() => setConfirming(false)}
          onConfirm={async () => {
            // On success the client signs out here too and the sign-in screen says why.
            await api.signOutEverywhere();
          }}
        >
          <p>Every session of your account ends, this one included. You will see the sign-in screen.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

export function Account() {
  const api = useApi();
  const me = useAsync((signal) => api.me(signal), []);
  const account = me.data;
  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title" tabIndex={-1}>
        My account
      </h1>
      <section className="panel" aria-labelledby="account-facts">
        <h2 id="account-facts">Account</h2>
        {me.status === 'error' && !account ? (
          <ErrorState error={me.error} onRetry={me.reload} title="Could not load your account" />
        ) : !account ? (
          <Loading label="Loading your account…" />
        ) : (
          <dl className="facts">
            <div>
              <dt>Email</dt>
              <dd data-testid="account-email">
                {account.email}
                {account.email_verified ? null : <span className="muted"> (address not confirmed)</span>}
              </dd>
            </div>
            <div>
              <dt>Name</dt>
              <dd>{account.name}</dd>
            </div>
            <div>
              <dt>Roles</dt>
              <dd>{account.roles.join(', ')}</dd>
            </div>
            <div>
              <dt>Registered</dt>
              <dd>{formatDateTime(account.created_at)}</dd>
            </div>
            <div>
              <dt>Id</dt>
              <dd>
                <code>{account.id}</code>
              </dd>
            </div>
          </dl>
        )}
      </section>
      <ChangePassword username={account?.email} />
      <SignOutEverywhere />
    </section>
  );
}
