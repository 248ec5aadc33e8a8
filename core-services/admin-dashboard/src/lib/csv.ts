/**
 * Bulk product import from CSV: parse the file (RFC 4180: quoted fields, doubled quotes,
 * line breaks inside quotes, `,` or `;` separated), turn each record into the body
 * `POST /admin/products/import` takes, send the rows that could be read in chunks, and merge
 * the API's per-row report back onto file line numbers.
 *
 * Columns (header row required, names case-insensitive): `sku`, `name`, `description`, `brand`,
 * `category`, `price` (decimal, e.g. `19.99`) or `price_minor` (integer minor units),
 * `currency` (default EUR), `active` (true/false/yes/no/1/0, default true), `image_urls`
 * (separated by `|` or whitespace), and `attr.<name>` for each attribute.
 */

import type { FieldError } from '../api/problem';
import type { ImportReport } from '../api/types';
import { parseDecimalAmount } from './money';

/** One CSV record with the file line it starts on (1-based). */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** Picks `;` when the header line has more of them than commas (outside quotes). */
export function detectDelimiter(text: string): ',' | ';' {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && ch === ',') commas += 1;
    else if (!quoted && ch === ';') semicolons += 1;
  }
  return semicolons > commas ? ';' : ',';
}

/** Parses CSV text into records; blank lines are skipped; never throws. */
export function parseCsv(input: string, delimiter: string = detectDelimiter(input)): CsvRecord[] {
  const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let fieldStarted = false;

  const endRecord = () => {
    fields.push(field);
    const blank = fields.length === 1 && fields[0] === '' && !fieldStarted;
    if (!blank) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
    fieldStarted = false;
  };

  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 1;
        } else {
          quoted = false;
        }
      } else {
        if (ch === '\n') line += 1;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
      fieldStarted = true;
    } else if (ch === delimiter) {
      fields.push(field);
      field = '';
      fieldStarted = true;
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i += 1;
      endRecord();
      line += 1;
      recordLine = line;
    } else {
      field += ch;
      fieldStarted = true;
    }
  }
  if (field !== '' || fields.length > 0 || fieldStarted) endRecord();
  return records;
}

/** One row of the file, read. */
export interface ImportRow {
  /** File line the record starts on. */
  line: number;
  sku: string;
  /** The product body to send; absent when the row could not be read. */
  product?: Record<string, unknown>;
  /** Why the row could not be read (field paths as the API names them). */
  errors: FieldError[];
}

export interface ParsedImport {
  rows: ImportRow[];
  /** Problems with the file as a whole (missing columns, unknown ones). */
  fileErrors: string[];
  warnings: string[];
}

const KNOWN = new Set(['sku', 'name', 'description', 'brand', 'category', 'price', 'price_minor', 'currency', 'active', 'image_urls']);

function parseBoolean(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'y', '1', 'active'].includes(v)) return true;
  if (['false', 'no', 'n', '0', 'inactive'].includes(v)) return false;
  return undefined;
}

/** Attribute cells: `true`/`false` become booleans, plain numbers numbers, the rest text. */
export function attributeValue(raw: string): string | number | boolean {
  const v = raw.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(v) && Number.isFinite(Number(v))) return Number(v);
  return v;
}

/** Turns CSV text into import rows. */
export function readProductCsv(text: string): ParsedImport {
  const records = parseCsv(text);
  const fileErrors: string[] = [];
  const warnings: string[] = [];
  const header = records[0];
  if (!header) return { rows: [], fileErrors: ['the file is empty'], warnings };
  const columns = header.fields.map((h) => h.trim().toLowerCase());
  for (const required of ['sku', 'name']) {
    if (!columns.includes(required)) fileErrors.push(`missing column "${required}"`);
  }
  if (!columns.includes('price') && !columns.includes('price_minor')) fileErrors.push('missing column "price" (or "price_minor")');
  const unknown = columns.filter((c) => c && !KNOWN.has(c) && !c.startsWith('attr.'));
  if (unknown.length) warnings.push(`ignored unknown column${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  if (fileErrors.length) return { rows: [], fileErrors, warnings };

  const rows: ImportRow[] = records.slice(1).map((record) => {
    const cell = (name: string): string | undefined => {
      const at = columns.indexOf(name);
      return at >= 0 ? record.fields[at] : undefined;
    };
    const errors: FieldError[] = [];
    const sku = (cell('sku') ?? '').trim();
    if (record.fields.length > columns.length && record.fields.slice(columns.length).some((f) => f.trim())) {
      errors.push({ field: 'row', message: `has ${record.fields.length} cells but the header has ${columns.length}` });
    }
    const currency = ((cell('currency') ?? '').trim() || 'EUR').toUpperCase();
    let amount: number | undefined;
    const minor = cell('price_minor')?.trim();
    const decimal = cell('price')?.trim();
    if (minor) {
      if (/^\d+$/.test(minor) && Number.isSafeInteger(Number(minor))) amount = Number(minor);
      else errors.push({ field: 'price.amount', message: 'price_minor must be a whole number of minor units' });
    } else if (decimal) {
      const parsed = parseDecimalAmount(decimal, currency);
      if (parsed.ok) amount = parsed.amount;
      else errors.push({ field: 'price.amount', message: parsed.message });
    } else {
      errors.push({ field: 'price.amount', message: 'is missing' });
    }
    let active = true;
    const activeCell = cell('active');
    if (activeCell !== undefined && activeCell.trim() !== '') {
      const parsed = parseBoolean(activeCell);
      if (parsed === undefined) errors.push({ field: 'active', message: 'must be true or false' });
      else active = parsed;
    }
    const attributes: Record<string, string | number | boolean> = {};
    columns.forEach((column, at) => {
      if (!column.startsWith('attr.')) return;
      const value = record.fields[at];
      if (value !== undefined && value.trim() !== '') attributes[column.slice(5)] = attributeValue(value);
    });
    const images = (cell('image_urls') ?? '')
      .split(/[|\s]+/)
      .map((u) => u.trim())
      .filter(Boolean);
    const brand = (cell('brand') ?? '').trim();
    const category = (cell('category') ?? '').trim();
    const row: ImportRow = { line: record.line, sku, errors };
    if (errors.length === 0 && amount !== undefined) {
      row.product = {
        sku,
        name: (cell('name') ?? '').trim(),
        description: cell('description') ?? '',
        brand: brand || null,
        category: category || null,
        price: { amount, currency },
        attributes,
        image_urls: images,
        active,
      };
    }
    return row;
  });
  if (rows.length === 0) fileErrors.push('the file has a header but no rows');
  return { rows, fileErrors, warnings };
}

/** Splits `items` into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** How one file row fared. */
export interface RowOutcome {
  line: number;
  sku: string;
  outcome: 'imported' | 'rejected' | 'unreadable' | 'not sent';
  errors: FieldError[];
}

/** The whole import's result. */
export interface ImportSummary {
  created: number;
  updated: number;
  rejected: number;
  unreadable: number;
  notSent: number;
  rows: RowOutcome[];
}

/**
 * Merges the API's reports (one per chunk of readable rows, in order; `undefined` for a chunk
 * whose request failed) onto the file's rows. Report indexes are positions within a chunk.
 */
export function mergeImportReports(
  rows: readonly ImportRow[],
  chunkSize: number,
  reports: readonly (ImportReport | undefined)[],
  chunkFailure?: (chunkIndex: number) => FieldError[],
): ImportSummary {
  const sendable = rows.filter((r) => r.product);
  const outcomes = new Map<ImportRow, RowOutcome>();
  let created = 0;
  let updated = 0;
  reports.forEach((report, chunkIndex) => {
    const members = sendable.slice(chunkIndex * chunkSize, (chunkIndex + 1) * chunkSize);
    if (!report) {
      const errors = chunkFailure?.(chunkIndex) ?? [{ field: 'row', message: 'the request for this batch failed' }];
      for (const row of members) outcomes.set(row, { line: row.line, sku: row.sku, outcome: 'not sent', errors });
      return;
    }
    created += report.created;
    updated += report.updated;
    const failed = new Map(report.errors.map((e) => [e.index, e]));
    members.forEach((row, index) => {
      const failure = failed.get(index);
      outcomes.set(row, {
        line: row.line,
        sku: row.sku || failure?.sku || '',
        outcome: failure ? 'rejected' : 'imported',
        errors: failure?.errors ?? [],
      });
    });
  });
  const result: RowOutcome[] = rows.map(
    (row) =>
      outcomes.get(row) ??
      (row.product
        ? { line: row.line, sku: row.sku, outcome: 'not sent', errors: [{ field: 'row', message: 'not sent' }] }
        : { line: row.line, sku: row.sku, outcome: 'unreadable', errors: row.errors }),
  );
  const count = (o: RowOutcome['outcome']) => result.filter((r) => r.outcome === o).length;
  return {
    created,
    updated,
    rejected: count('rejected'),
    unreadable: count('unreadable'),
    notSent: count('not sent'),
    rows: result,
  };
}

/** One row's problems as text: `field: message; …`. */
export function errorsText(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ');
}

/**
 * One cell of a CSV file the operator will open in a spreadsheet. A cell that starts with
 * `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a formula (CSV injection, OWASP),
 * so it is prefixed with `'`, which spreadsheets show as text; a cell holding a quote, separator or
 * line break is quoted with its quotes doubled (RFC 4180).
 */
export function csvCell(value: string): string {
  const neutral = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",;\r\n]/.test(neutral) ? `"${neutral.replace(/"/g, '""')}"` : neutral;
}

/** The import's per-row report as CSV: `line,sku,outcome,errors`. */
export function reportCsv(summary: ImportSummary): string {
  const lines = ['line,sku,outcome,errors', ...summary.rows.map((r) => [String(r.line), r.sku, r.outcome, errorsText(r.errors)].map(csvCell).join(','))];
  return `${lines.join('\n')}\n`;
}
