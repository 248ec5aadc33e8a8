/**
 * A table of one page of rows with its loading, empty and error states and a pager. Only the
 * current page is ever rendered, so a list of 10,000 or a million rows costs the same.
 */

import { useId, type ReactNode } from 'react';

import type { ApiError } from '../api/problem';
import type { CursorList } from '../lib/hooks';
import { PAGE_SIZES } from '../lib/paging';
import { Empty, ErrorState, Loading } from './Status';

export interface Column<T> {
  key: string;
  header: ReactNode;
  render: (row: T) => ReactNode;
  className?: string;
}

export interface PagerProps {
  page: number;
  /** Known only for in-memory lists. */
  pages?: number;
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  limit?: number;
  onLimit?: (limit: number) => void;
  busy?: boolean;
}

interface DataTableProps<T> {
  caption: ReactNode;
  columns: readonly Column<T>[];
  rows: readonly T[] | undefined;
  rowKey: (row: T) => string;
  loading: boolean;
  error?: ApiError | undefined;
  onRetry?: () => void;
  empty: ReactNode;
  pager?: PagerProps;
  /** Hide the caption visually (it stays for screen readers). */
  hiddenCaption?: boolean;
}

export function Pager({ page, pages, hasPrevious, hasNext, onPrevious, onNext, limit, onLimit, busy }: PagerProps) {
  const id = useId();
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={onPrevious} disabled={!hasPrevious || busy}>
        ← Previous
      </button>
      <span className="pager-status" aria-live="polite">
        Page {page}
        {pages ? ` of ${pages}` : ''}
      </span>
      <button type="button" onClick={onNext} disabled={!hasNext || busy}>
        Next →
      </button>
      {onLimit && limit ? (
        <span className="pager-size">
          <label htmlFor={`${id}-size`}>Rows per page</label>
          <select id={`${id}-size`} value={limit} onChange={(e) => onLimit(Number(e.target.value))}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </span>
      ) : null}
    </nav>
  );
}

export function DataTable<T>({ caption, columns, rows, rowKey, loading, error, onRetry, empty, pager, hiddenCaption }: DataTableProps<T>) {
  const hasRows = rows !== undefined && rows.length > 0;
  let body: ReactNode;
  if (error && !hasRows) {
    body = <ErrorState error={error} {...(onRetry ? { onRetry } : {})} />;
  } else if (rows === undefined) {
    body = <Loading />;
  } else if (rows.length === 0 && !loading) {
    body = <Empty>{empty}</Empty>;
  } else if (rows.length === 0) {
    body = <Loading />;
  } else {
    body = (
      <div className="table-scroll">
        <table aria-busy={loading || undefined}>
          <caption className={hiddenCaption ? 'visually-hidden' : undefined}>{caption}</caption>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.key} scope="col" className={c.className}>
                  {c.header}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={rowKey(row)}>
                {columns.map((c) => (
                  <td key={c.key} className={c.className}>
                    {c.render(row)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  return (
    <div className="data-table">
      {error && hasRows ? <ErrorState error={error} {...(onRetry ? { onRetry } : {})} /> : null}
      {loading && hasRows ? (
        <p className="muted small" role="status">
          Loading…
        </p>
      ) : null}
      {body}
      {pager && (hasRows || pager.hasPrevious) ? <Pager {...pager} busy={loading} /> : null}
    </div>
  );
}

/** A DataTable fed by a cursor-paged list. */
export function CursorTable<T>({
  list,
  ...props
}: Omit<DataTableProps<T>, 'rows' | 'loading' | 'error' | 'onRetry' | 'pager'> & { list: CursorList<T> }) {
  const { state } = list;
  return (
    <DataTable
      {...props}
      rows={state.data?.items}
      loading={state.status === 'loading'}
      error={state.status === 'error' ? state.error : undefined}
      onRetry={list.reload}
      pager={{
        page: list.page,
        hasPrevious: list.hasPrevious,
        hasNext: list.hasNext,
        onPrevious: list.previous,
        onNext: list.next,
        limit: list.limit,
        onLimit: list.setLimit,
      }}
    />
  );
}
