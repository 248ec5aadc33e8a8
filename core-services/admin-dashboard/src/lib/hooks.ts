/** Data loading with loading, error and empty states that every screen shares. */

import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';

import { toApiError, validationError, type ApiError } from '../api/problem';
import type { Page } from '../api/types';
import { currentCursor, firstPage, hasPrevious, nextPage, pageNumber, previousPage, type PagerState } from './paging';
import type { Validated } from './validation';

export type AsyncState<T> =
  | { status: 'loading'; data?: T; error?: undefined }
  | { status: 'error'; data?: T; error: ApiError }
  | { status: 'ready'; data: T; error?: undefined };

/**
 * Runs `load` when `deps` change (aborting the previous run) and on `reload()`. Data from the
 * previous run stays visible while the next one loads.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): AsyncState<T> & { reload: () => void } {
  const [state, setState] = useState<AsyncState<T>>({ status: 'loading' });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => (previous.data === undefined ? { status: 'loading' } : { status: 'loading', data: previous.data }));
    loadRef
      .current(controller.signal)
      .then((data) => {
        if (!controller.signal.aborted) setState({ status: 'ready', data });
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setState((previous) =>
          previous.data === undefined
            ? { status: 'error', error: toApiError(error) }
            : { status: 'error', error: toApiError(error), data: previous.data },
        );
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export interface CursorList<T> {
  state: AsyncState<Page<T>>;
  pager: PagerState;
  page: number;
  hasPrevious: boolean;
  hasNext: boolean;
  limit: number;
  next: () => void;
  previous: () => void;
  setLimit: (limit: number) => void;
  reload: () => void;
}

/**
 * A cursor-paged list: only the current page is fetched and kept. Changing `deps` (filters)
 * starts again from the first page.
 */
export function useCursorList<T>(
  fetchPage: (cursor: string | null, limit: number, signal: AbortSignal) => Promise<Page<T>>,
  deps: readonly unknown[],
  initialLimit = 20,
): CursorList<T> {
  const [pager, setPager] = useState<PagerState>(firstPage);
  const [limit, setLimitState] = useState(initialLimit);
  const depsKey = JSON.stringify(deps);
  const [seenKey, setSeenKey] = useState(depsKey);
  let effectivePager = pager;
  if (seenKey !== depsKey) {
    // New filters: back to the first page (React re-renders before committing this one).
    setSeenKey(depsKey);
    setPager(firstPage);
    effectivePager = firstPage;
  }
  const cursor = currentCursor(effectivePager);
  const state = useAsync((signal) => fetchPage(cursor, limit, signal), [depsKey, cursor, limit]);
  const nextCursor = state.status === 'ready' ? (state.data.next_cursor ?? null) : null;
  return {
    state,
    pager: effectivePager,
    page: pageNumber(effectivePager),
    hasPrevious: hasPrevious(effectivePager),
    hasNext: Boolean(nextCursor),
    limit,
    next: () => setPager((p) => nextPage(p, nextCursor)),
    previous: () => setPager((p) => previousPage(p)),
    setLimit: (n: number) => {
      setLimitState(n);
      setPager(firstPage);
    },
    reload: state.reload,
  };
}

/** Calls `tick` every `ms` while `active` (for watching orders move through the saga). */
export function useInterval(tick: () => void, ms: number, active: boolean): void {
  const ref = useRef(tick);
  ref.current = tick;
  useEffect(() => {
    if (!active) return undefined;
    const handle = window.setInterval(() => ref.current(), ms);
    return () => window.clearInterval(handle);
  }, [ms, active]);
}

/**
 * The submit of a form that goes away once it succeeds (a dialog that closes, the sign-in page):
 * the form's own checks first (their errors shown as a 422 problem, nothing sent), then `send`
 * with the checked value. A failure is shown and the form enabled again; on success it stays
 * busy, since `send` closes or leaves it.
 */
export function useSubmit<T>(
  validate: () => Validated<T>,
  send: (value: T) => Promise<void>,
): { error: ApiError | null; busy: boolean; onSubmit: (event: FormEvent) => void } {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const checked = validate();
    if (!checked.ok) {
      setError(validationError(checked.errors));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await send(checked.value);
    } catch (e) {
      setError(toApiError(e));
      setBusy(false);
    }
  };
  return { error, busy, onSubmit: (event) => void submit(event) };
}
