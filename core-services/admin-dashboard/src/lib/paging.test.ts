import { describe, expect, it } from 'vitest';

import { currentCursor, firstPage, hasPrevious, nextPage, pageNumber, previousPage, slicePage } from './paging';

describe('cursor pager', () => {
  it('walks forward with the cursors pages answer and back again', () => {
    let s = firstPage;
    expect(currentCursor(s)).toBeNull();
    expect(hasPrevious(s)).toBe(false);
    s = nextPage(s, 'c1');
    s = nextPage(s, 'c2');
    expect(currentCursor(s)).toBe('c2');
    expect(pageNumber(s)).toBe(3);
    s = previousPage(s);
    expect(currentCursor(s)).toBe('c1');
    s = previousPage(s);
    s = previousPage(s);
    expect(currentCursor(s)).toBeNull();
    expect(pageNumber(s)).toBe(1);
  });

  it('stays on the last page when there is no next cursor', () => {
    const s = nextPage(firstPage, 'c1');
    expect(nextPage(s, null)).toBe(s);
    expect(nextPage(s, '')).toBe(s);
  });

  it('forgets pages ahead when the path forks', () => {
    let s = nextPage(nextPage(firstPage, 'a'), 'b');
    s = previousPage(s);
    s = nextPage(s, 'b2');
    expect(s.cursors).toEqual([null, 'a', 'b2']);
  });

  it('walking 10,000 pages keeps only cursors, never rows', () => {
    let s = firstPage;
    for (let i = 0; i < 10_000; i += 1) s = nextPage(s, `c${i}`);
    expect(pageNumber(s)).toBe(10_001);
    expect(currentCursor(s)).toBe('c9999');
  });
});

describe('slicePage', () => {
  const rows = Array.from({ length: 10_050 }, (_, i) => i);
  it('cuts one page out of a long list', () => {
    const { rows: page, pages } = slicePage(rows, 3, 50);
    expect(pages).toBe(201);
    expect(page).toHaveLength(50);
    expect(page[0]).toBe(150);
  });
  it('clamps out-of-range pages', () => {
    expect(slicePage(rows, 999, 50).page).toBe(200);
    expect(slicePage(rows, 999, 50).rows).toHaveLength(50);
    expect(slicePage(rows, -3, 50).page).toBe(0);
    expect(slicePage([], 0, 50)).toEqual({ rows: [], page: 0, pages: 1 });
  });
});
