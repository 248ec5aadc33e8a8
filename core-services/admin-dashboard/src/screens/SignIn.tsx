/** Sign in with an admin account; shopper accounts are refused. */

import { useState, type FormEvent } from 'react';

import { toApiError, validationError, type ApiError } from '../api/problem';
import { TextField } from '../components/Field';
import { FormErrorSummary } from '../components/Status';
import { useClient } from '../context';

export function SignIn({ reason }: { reason?: string | undefined }) {
  const client = useClient();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const errors = [];
    if (!email.trim()) errors.push({ field: 'email', message: 'enter your email address' });
    if (!password) errors.push({ field: 'password', message: 'enter your password' });
    if (errors.length) {
      setError(validationError(errors));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await client.login(email.trim(), password);
    } catch (e) {
      setError(toApiError(e));
      setBusy(false);
    }
  };

  return (
    <div className="signin-page">
      <main id="main" className="signin" tabIndex={-1}>
        <h1>Sign in to the admin dashboard</h1>
        <p className="muted">retail-platform back office. Administrator accounts only.</p>
        {reason ? (
          <p className="notice-inline" role="status">
            {reason}
          </p>
        ) : null}
        <form onSubmit={(e) => void submit(e)} noValidate>
          <FormErrorSummary error={error} fields={['email', 'password']} />
          <TextField
            id="signin-email"
            label="Email"
            type="email"
            name="email"
            autoComplete="username"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            errors={error?.errorsFor('email')}
            required
          />
          <TextField
            id="signin-password"
            label="Password"
            type="password"
            name="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            errors={error?.errorsFor('password')}
            required
          />
          <button type="submit" className="primary" disabled={busy} aria-busy={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </main>
    </div>
  );
}
