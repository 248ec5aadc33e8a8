/** The API client and the notice area, shared with every screen. */

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

import type { ApiClient } from './api/client';
import { createApi, type Api } from './api/endpoints';

interface ApiContextValue {
  client: ApiClient;
  api: Api;
}

const ApiContext = createContext<ApiContextValue | null>(null);

export function ApiProvider({ client, children }: { client: ApiClient; children: ReactNode }) {
  const value = useMemo(() => ({ client, api: createApi(client) }), [client]);
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const value = useContext(ApiContext);
  if (!value) throw new Error('useApi outside ApiProvider');
  return value.api;
}

export function useClient(): ApiClient {
  const value = useContext(ApiContext);
  if (!value) throw new Error('useClient outside ApiProvider');
  return value.client;
}

/** Short confirmations ("Product saved") announced politely to screen readers. */
interface Notice {
  id: number;
  text: string;
}

const NoticeContext = createContext<{ notices: Notice[]; notify: (text: string) => void; dismiss: (id: number) => void } | null>(null);

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const dismiss = useCallback((id: number) => setNotices((all) => all.filter((n) => n.id !== id)), []);
  const notify = useCallback(
    (text: string) => {
      const id = Date.now() + Math.random();
      setNotices((all) => [...all.slice(-2), { id, text }]);
      window.setTimeout(() => dismiss(id), 8000);
    },
    [dismiss],
  );
  const value = useMemo(() => ({ notices, notify, dismiss }), [notices, notify, dismiss]);
  return <NoticeContext.Provider value={value}>{children}</NoticeContext.Provider>;
}

export function useNotices() {
  const value = useContext(NoticeContext);
  if (!value) throw new Error('useNotices outside NoticeProvider');
  return value;
}

export function useNotify(): (text: string) => void {
  return useNotices().notify;
}
