import { describe, expect, it } from 'vitest';

import type { ImportReport } from '../api/types';
import { attributeValue, chunk, csvCell, detectDelimiter, mergeImportReports, parseCsv, readProductCsv, reportCsv } from './csv';

describe('parseCsv', () => {
  it('handles quotes, doubled quotes, separators and line breaks inside quotes', () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""","two\nlines"\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['x, y', 'say "hi"', 'two\nlines'] },
    ]);
  });

  it('keeps file line numbers across blank lines and multi-line records', () => {
    const text = 'h1,h2\n\n"a\nb",1\n\nc,2';
    expect(parseCsv(text).map((r) => r.line)).toEqual([1, 3, 6]);
  });

  it('strips a byte-order mark and keeps empty trailing cells', () => {
    expect(parseCsv('\uFEFFsku,name,\nA,,\n')).toEqual([
      { line: 1, fields: ['sku', 'name', ''] },
      { line: 2, fields: ['A', '', ''] },
    ]);
  });

  it('detects semicolon-separated files', () => {
    expect(detectDelimiter('sku;name;price\nA;B;1,50')).toBe(';');
    expect(detectDelimiter('"a;b",c\n')).toBe(',');
    expect(parseCsv('sku;price\nA;"1,50"')[1]?.fields).toEqual(['A', '1,50']);
  });
});

describe('readProductCsv', () => {
  const header = 'sku,name,description,brand,category,price,currency,active,image_urls,attr.color,attr.size,attr.organic';

  it('turns rows into import bodies', () => {
    const parsed = readProductCsv(`${header}\nTM-1,Trail mug,"Enamel, blue",Campfire,kitchen,12.90,eur,yes,https://a.example/1.jpg|https://a.example/2.jpg,blue,42,true\n`);
    expect(parsed.fileErrors).toEqual([]);
    expect(parsed.rows).toHaveLength(1);
    expect(parsed.rows[0]).toMatchObject({ line: 2, sku: 'TM-1', errors: [] });
    expect(parsed.rows[0]?.product).toEqual({
      sku: 'TM-1',
      name: 'Trail mug',
      description: 'Enamel, blue',
      brand: 'Campfire',
      category: 'kitchen',
      price: { amount: 1290, currency: 'EUR' },
      attributes: { color: 'blue', size: 42, organic: true },
      image_urls: ['https://a.example/1.jpg', 'https://a.example/2.jpg'],
      active: true,
    });
  });

  it('accepts price_minor and defaults currency and active', () => {
    const parsed = readProductCsv('SKU,Name,price_minor\nA-1,Alpha,999\n');
    expect(parsed.rows[0]?.product).toMatchObject({ price: { amount: 999, currency: 'EUR' }, active: true, brand: null, category: null });
  });

  it('reports rows it cannot read with the field they concern', () => {
    const parsed = readProductCsv('sku,name,price,active\nA,Alpha,12.345,true\nB,Beta,,maybe\nC,Gamma,3,false\n');
    expect(parsed.rows.map((r) => Boolean(r.product))).toEqual([false, false, true]);
    expect(parsed.rows[0]?.errors).toEqual([{ field: 'price.amount', message: 'at most 2 decimal places' }]);
    expect(parsed.rows[1]?.errors.map((e) => e.field)).toEqual(['price.amount', 'active']);
    expect(parsed.rows[2]?.product?.active).toBe(false);
  });

  it('refuses a file without the needed columns, warns about unknown ones', () => {
    expect(readProductCsv('name,price\nx,1').fileErrors).toEqual(['missing column "sku"']);
    expect(readProductCsv('').fileErrors).toEqual(['the file is empty']);
    expect(readProductCsv('sku,name,price\n').fileErrors).toEqual(['the file has a header but no rows']);
    expect(readProductCsv('sku,name,price,colour\nA,B,1,red').warnings).toEqual(['ignored unknown column: colour']);
  });

  it('flags rows with more cells than the header', () => {
    expect(readProductCsv('sku,name,price\nA,B,1,extra').rows[0]?.errors[0]?.field).toBe('row');
  });

  it('reads attribute cells', () => {
    expect(attributeValue('3.5')).toBe(3.5);
    expect(attributeValue('007')).toBe('007');
    expect(attributeValue('false')).toBe(false);
    expect(attributeValue(' black ')).toBe('black');
  });
});

describe('import report', () => {
  it('maps per-chunk report indexes back to file lines', () => {
    const lines = ['sku,name,price'];
    for (let i = 0; i < 5; i += 1) lines.push(i === 2 ? `S${i},Name,oops` : `S${i},Name,1.00`);
    const parsed = readProductCsv(lines.join('\n'));
    // Readable rows: S0 S1 S3 S4 (S2 unreadable). Chunks of 2: [S0,S1] [S3,S4].
    const reports: ImportReport[] = [
      { created: 2, updated: 0, failed: 0, errors: [] },
      { created: 0, updated: 0, failed: 1, errors: [{ index: 1, sku: 'S4', errors: [{ field: 'name', message: 'taken' }] }] },
    ];
    const summary = mergeImportReports(parsed.rows, 2, reports);
    expect(summary.rows.map((r) => [r.line, r.outcome])).toEqual([
      [2, 'imported'],
      [3, 'imported'],
      [4, 'unreadable'],
      [5, 'imported'],
      [6, 'rejected'],
    ]);
    expect(summary.rows[4]?.errors).toEqual([{ field: 'name', message: 'taken' }]);
    expect(summary).toMatchObject({ created: 2, updated: 0, rejected: 1, unreadable: 1, notSent: 0 });
  });

  it('marks a failed batch as not sent with the reason', () => {
    const parsed = readProductCsv('sku,name,price\nA,a,1\nB,b,1\nC,c,1');
    const summary = mergeImportReports(parsed.rows, 2, [undefined, { created: 1, updated: 0, failed: 0, errors: [] }], () => [
      { field: 'batch', message: 'Service unavailable' },
    ]);
    expect(summary.rows.map((r) => r.outcome)).toEqual(['not sent', 'not sent', 'imported']);
    expect(summary.notSent).toBe(2);
  });

  it('handles a 10,000-row file quickly', () => {
    const lines = ['sku,name,price'];
    for (let i = 0; i < 10_000; i += 1) lines.push(`SKU-${i},Product ${i},${i}.99`);
    const started = performance.now();
    const parsed = readProductCsv(lines.join('\n'));
    const chunks = chunk(parsed.rows, 500);
    const summary = mergeImportReports(
      parsed.rows,
      500,
      chunks.map((c) => ({ created: c.length, updated: 0, failed: 0, errors: [] })),
    );
    expect(summary.created).toBe(10_000);
    expect(summary.rows).toHaveLength(10_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('report export', () => {
  it('neutralises cells a spreadsheet would run as a formula', () => {
    for (const lead of ['=', '+', '-', '@', '\t', '\r']) {
      const cell = csvCell(`${lead}HYPERLINK("https://evil.example","x")`);
      // The cell, read back as CSV, starts with a quote mark that makes it text.
      expect(parseCsv(`${cell}\n`, ',')[0]?.fields[0]?.startsWith(`'${lead}`)).toBe(true);
    }
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a "b", c')).toBe('"a ""b"", c"');
  });

  it('writes an injected SKU and error text inert, and the file still parses', () => {
    const csv = reportCsv({
      created: 0,
      updated: 0,
      rejected: 1,
      unreadable: 0,
      notSent: 0,
      rows: [{ line: 2, sku: '=cmd|\' /C calc\'!A0', outcome: 'rejected', errors: [{ field: '', message: '@SUM(1+1)' }] }],
    });
    const records = parseCsv(csv, ',');
    expect(records[1]?.fields).toEqual(['2', "'=cmd|' /C calc'!A0", 'rejected', "'@SUM(1+1)"]);
  });
});
