/** Sign in with an admin account; shopper accounts are refused. */

import { useState } from 'react';

import type { FieldError } from '../api/problem';
import { TextField } from '../components/Field';
import { FormErrorSummary } from '../components/Status';
import { useClient } from '../context';
import { useSubmit } from '../lib/hooks';
import type { Validated } from '../lib/validation';

export function SignIn({ reason }: { reason?: string | undefined }) {
  const client = useClient();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { error, busy, onSubmit } = useSubmit(
    (): Validated<{ email: string; password: string }> => {
      const errors: FieldError[] = [];
      if (!email.trim()) errors.push({ field: 'email', message: 'enter your email address' });
      if (!password) errors.push({ field: 'password', message: 'enter your password' });
      return errors.length ? { ok: false, errors } : { ok: true, value: { email: email.trim(), password } };
    },
    async (value) => {
      await client.login(value.email, value.password);
    },
  );

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
        <form onSubmit={onSubmit} noValidate>
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
