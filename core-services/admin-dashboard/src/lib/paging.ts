/**
 * Cursor paging as the API does it (`next_cursor` from each page; no counts, no offsets). The
 * pager remembers the cursor that opened every page it has seen so "Previous" works too, and
 * only one page of rows is ever held or rendered however long the list is.
 */

export interface PagerState {
  /** `cursors[i]` fetches page `i` (`null` = the first page). */
  readonly cursors: readonly (string | null)[];
  /** The page shown (0-based). */
  readonly index: number;
}

export const firstPage: PagerState = { cursors: [null], index: 0 };

/** The cursor of the page shown. */
export function currentCursor(state: PagerState): string | null {
  return state.cursors[state.index] ?? null;
}

/** Moves to the page after the shown one, whose cursor the shown page answered. */
export function nextPage(state: PagerState, nextCursor: string | null | undefined): PagerState {
  if (!nextCursor) return state;
  const cursors = state.cursors.slice(0, state.index + 1);
  cursors.push(nextCursor);
  return { cursors, index: state.index + 1 };
}

/** Moves back one page (cursors ahead are kept: forward again is free of guesswork). */
export function previousPage(state: PagerState): PagerState {
  return state.index > 0 ? { cursors: state.cursors, index: state.index - 1 } : state;
}

export function hasPrevious(state: PagerState): boolean {
  return state.index > 0;
}

/** Human page number (1-based). */
export function pageNumber(state: PagerState): number {
  return state.index + 1;
}

/** One page of an in-memory list (for client-side reports): clamps the page into range. */
export function slicePage<T>(items: readonly T[], page: number, size: number): { rows: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(items.length / Math.max(1, size)));
  const clamped = Math.min(Math.max(0, page), pages - 1);
  const start = clamped * size;
  return { rows: items.slice(start, start + size), page: clamped, pages };
}

/** Pager props for an in-memory list shown with `slicePage` (0-based `page`, as it returned it). */
export function localPager(
  page: number,
  pages: number,
  setPage: (page: number) => void,
): { page: number; pages: number; hasPrevious: boolean; hasNext: boolean; onPrevious: () => void; onNext: () => void } {
  return {
    page: page + 1,
    pages,
    hasPrevious: page > 0,
    hasNext: page < pages - 1,
    onPrevious: () => setPage(page - 1),
    onNext: () => setPage(page + 1),
  };
}

export const PAGE_SIZES = [20, 50, 100] as const;
