/** The shell: sign-in gate, navigation, routes, notices. */

import { useEffect, useState, type ReactNode } from 'react';

import type { ApiClient, Session } from './api/client';
import { ErrorBoundary } from './components/ErrorBoundary';
import { ApiProvider, NoticeProvider, useClient, useNotices } from './context';
import { Link, matchPath, useLocation } from './lib/router';
import { Account } from './screens/Account';
import { DeadLetters } from './screens/DeadLetters';
import { Inventory } from './screens/Inventory';
import { OrderDetail } from './screens/OrderDetail';
import { Orders } from './screens/Orders';
import { Overview } from './screens/Overview';
import { PaymentDetailScreen } from './screens/PaymentDetail';
import { Payments } from './screens/Payments';
import { ProductEdit } from './screens/ProductEdit';
import { ProductImport } from './screens/ProductImport';
import { Products } from './screens/Products';
import { SignIn } from './screens/SignIn';
import { WebhookDetail } from './screens/WebhookDetail';
import { Webhooks } from './screens/Webhooks';

const NAV: { to: string; label: string }[] = [
  { to: '/', label: 'Overview' },
  { to: '/products', label: 'Products' },
  { to: '/inventory', label: 'Inventory' },
  { to: '/orders', label: 'Orders' },
  { to: '/payments', label: 'Payments' },
  { to: '/webhooks', label: 'Webhooks' },
  { to: '/dead-letters', label: 'Dead letters' },
];

type Route = { pattern: string; title: string; render: (params: Record<string, string>) => ReactNode };

const ROUTES: Route[] = [
  { pattern: '/', title: 'Overview', render: () => <Overview /> },
  { pattern: '/products', title: 'Products', render: () => <Products /> },
  { pattern: '/products/new', title: 'New product', render: () => <ProductEdit /> },
  { pattern: '/products/import', title: 'Import products', render: () => <ProductImport /> },
  { pattern: '/products/:id', title: 'Product', render: (p) => <ProductEdit id={p.id ?? ''} /> },
  { pattern: '/inventory', title: 'Inventory', render: () => <Inventory /> },
  { pattern: '/orders', title: 'Orders', render: () => <Orders /> },
  { pattern: '/orders/:id', title: 'Order', render: (p) => <OrderDetail id={p.id ?? ''} /> },
  { pattern: '/payments', title: 'Payments', render: () => <Payments /> },
  { pattern: '/payments/:orderId', title: 'Payment', render: (p) => <PaymentDetailScreen orderId={p.orderId ?? ''} /> },
  { pattern: '/webhooks', title: 'Webhooks', render: () => <Webhooks /> },
  { pattern: '/webhooks/:id', title: 'Webhook', render: (p) => <WebhookDetail id={p.id ?? ''} /> },
  { pattern: '/dead-letters', title: 'Dead letters', render: () => <DeadLetters /> },
  { pattern: '/account', title: 'My account', render: () => <Account /> },
];

function resolve(path: string): { route: Route; params: Record<string, string> } | null {
  for (const route of ROUTES) {
    const params = matchPath(route.pattern, path);
    if (params) return { route, params };
  }
  return null;
}

function isCurrent(to: string, path: string): boolean {
  return to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`);
}

function Notices() {
  const { notices, dismiss } = useNotices();
  return (
    <div className="notices" role="status" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} className="notice">
          <span>{n.text}</span>
          <button type="button" className="link-button" onClick={() => dismiss(n.id)} aria-label={`Dismiss: ${n.text}`}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

function Shell({ session }: { session: Session }) {
  const client = useClient();
  const { path } = useLocation();
  const match = resolve(path);

  useEffect(() => {
    document.title = `${match?.route.title ?? 'Not found'} · Admin · retail-platform`;
    // Move focus to the new screen's heading so keyboard and screen-reader users follow.
    const heading = document.querySelector<HTMLElement>('main h1');
    heading?.focus({ preventScroll: false });
  }, [path, match?.route.title]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">retail-platform · Admin</span>
        <span className="whoami muted" title={session.claims.sub}>
          Signed in as admin
        </span>
        <Link to="/account" className="account-link" aria-current={isCurrent('/account', path) ? 'page' : undefined}>
          My account
        </Link>
        <button type="button" onClick={() => void client.logout()}>
          Sign out
        </button>
      </header>
      <div className="layout">
        <nav className="sidebar" aria-label="Sections">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={isCurrent(item.to, path) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <ErrorBoundary key={path}>
            {match ? (
              match.route.render(match.params)
            ) : (
              <section>
                <h1 tabIndex={-1}>Not found</h1>
                <p>
                  There is no screen at <code>{path}</code>. <Link to="/">Go to the overview</Link>.
                </p>
              </section>
            )}
          </ErrorBoundary>
        </main>
      </div>
      <Notices />
    </div>
  );
}

export function App({ client }: { client: ApiClient }) {
  const [session, setSession] = useState<Session | null>(client.current());
  const [reason, setReason] = useState<string | undefined>(undefined);

  useEffect(
    () =>
      client.subscribe((next, change) => {
        setSession(next);
        if (change.kind === 'signed-out') setReason(change.reason);
        if (change.kind === 'signed-in') setReason(undefined);
      }),
    [client],
  );

  return (
    <ApiProvider client={client}>
      <NoticeProvider>{session ? <Shell session={session} /> : <SignIn reason={reason} />}</NoticeProvider>
    </ApiProvider>
  );
}
