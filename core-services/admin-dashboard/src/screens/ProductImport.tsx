/** Bulk import from CSV with a per-row report. */

import { useMemo, useState, type ChangeEvent } from 'react';

import { toApiError, type ApiError, type FieldError } from '../api/problem';
import type { ImportReport } from '../api/types';
import { DataTable } from '../components/DataTable';
import { SelectField, TextArea } from '../components/Field';
import { ErrorState } from '../components/Status';
import { useApi, useNotify } from '../context';
import { chunk, errorsText, mergeImportReports, readProductCsv, reportCsv, type ImportSummary, type ParsedImport, type RowOutcome } from '../lib/csv';
import { localPager, slicePage } from '../lib/paging';
import { Link } from '../lib/router';

/** Rows per import request (the catalog accepts up to 1,000 by default). */
export const IMPORT_CHUNK = 500;
const REPORT_PAGE = 50;

const SAMPLE = `sku,name,description,brand,category,price,currency,active,image_urls,attr.color
DEMO-0001,Trail mug,Enamel mug,Campfire,,12.90,EUR,true,https://example.com/mug.jpg,blue`;

function RowReport({ rows, caption }: { rows: readonly RowOutcome[]; caption: string }) {
  const [filter, setFilter] = useState<'all' | 'problems'>('problems');
  const [page, setPage] = useState(0);
  const shown = useMemo(() => (filter === 'all' ? rows : rows.filter((r) => r.outcome !== 'imported')), [rows, filter]);
  const { rows: pageRows, page: current, pages } = slicePage(shown, page, REPORT_PAGE);
  return (
    <>
      <SelectField
        id="report-filter"
        label="Show"
        value={filter}
        onChange={(e) => {
          setFilter(e.target.value as 'all' | 'problems');
          setPage(0);
        }}
      >
        <option value="problems">Rows with problems</option>
        <option value="all">All rows</option>
      </SelectField>
      <DataTable
        caption={caption}
        rows={pageRows}
        rowKey={(r) => String(r.line)}
        loading={false}
        empty={filter === 'problems' ? 'Every row went in.' : 'No rows.'}
        columns={[
          { key: 'line', header: 'Line', className: 'num', render: (r) => r.line },
          { key: 'sku', header: 'SKU', render: (r) => (r.sku ? <code>{r.sku}</code> : '—') },
          { key: 'outcome', header: 'Outcome', render: (r) => <span className={`badge badge-${r.outcome === 'imported' ? 'ok' : 'bad'}`}>{r.outcome}</span> },
          { key: 'errors', header: 'Problems', render: (r) => (r.errors.length ? errorsText(r.errors) : '—') },
        ]}
        pager={localPager(current, pages, setPage)}
      />
    </>
  );
}

export function ProductImport() {
  const api = useApi();
  const notify = useNotify();
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState<string | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [summary, setSummary] = useState<ImportSummary | null>(null);
  const [fatal, setFatal] = useState<ApiError | null>(null);
  const parsed: ParsedImport | null = useMemo(() => (text.trim() ? readProductCsv(text) : null), [text]);
  const readable = parsed?.rows.filter((r) => r.product) ?? [];
  const unreadable = parsed?.rows.filter((r) => !r.product) ?? [];
  const [downloadUrl, setDownloadUrl] = useState<string | null>(null);

  const onFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    setSummary(null);
    setFatal(null);
    setFileError(null);
    if (!file) return;
    if (file.size > 20 * 1024 * 1024) {
      setFileError('The file is larger than 20 MB; split it.');
      return;
    }
    setFileName(file.name);
    setText(await file.text());
  };

  const run = async () => {
    if (!parsed) return;
    const chunks = chunk(readable, IMPORT_CHUNK);
    const reports: (ImportReport | undefined)[] = [];
    const failures = new Map<number, FieldError[]>();
    setFatal(null);
    setSummary(null);
    setProgress({ done: 0, total: chunks.length });
    for (const [i, rows] of chunks.entries()) {
      try {
        reports.push(await api.importProducts(rows.map((r) => r.product)));
      } catch (e) {
        const err = toApiError(e);
        reports.push(undefined);
        failures.set(i, [{ field: 'batch', message: `${err.problem.title}${err.problem.detail ? `: ${err.problem.detail}` : ''}` }]);
        if (err.status === 401 || err.status === 403) {
          setFatal(err);
          break;
        }
      }
      setProgress({ done: i + 1, total: chunks.length });
    }
    const result = mergeImportReports(parsed.rows, IMPORT_CHUNK, reports, (i) => failures.get(i) ?? [{ field: 'batch', message: 'not sent' }]);
    setSummary(result);
    setProgress(null);
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    setDownloadUrl(URL.createObjectURL(new Blob([reportCsv(result)], { type: 'text/csv' })));
    notify(`Import finished: ${result.created} created, ${result.updated} updated, ${result.rejected + result.unreadable + result.notSent} with problems.`);
  };

  return (
    <section aria-labelledby="import-title">
      <p className="crumbs">
        <Link to="/products">Products</Link> /
      </p>
      <h1 id="import-title" tabIndex={-1}>
        Import products from CSV
      </h1>
      <div className="panel">
        <p>
          Columns: <code>sku</code>, <code>name</code>, <code>price</code> (e.g. 19.99) or <code>price_minor</code> (cents), and optionally{' '}
          <code>description</code>, <code>brand</code>, <code>category</code> (slug), <code>currency</code> (default EUR), <code>active</code>,{' '}
          <code>image_urls</code> (separated by |) and <code>attr.&lt;name&gt;</code>. A row whose SKU already exists replaces that product.
        </p>
        <div className="field">
          <label htmlFor="import-file">CSV file</label>
          <input id="import-file" type="file" accept=".csv,text/csv" onChange={(e) => void onFile(e)} aria-describedby={fileError ? 'import-file-error' : undefined} />
          {fileError ? (
            <span className="field-error" id="import-file-error">
              {fileError}
            </span>
          ) : null}
        </div>
        <TextArea
          id="import-text"
          label="…or paste CSV"
          rows={6}
          value={text}
          placeholder={SAMPLE}
          onChange={(e) => {
            setText(e.target.value);
            setFileName(null);
            setSummary(null);
          }}
        />
      </div>

      {parsed ? (
        <div className="panel" aria-live="polite">
          <h2>Check</h2>
          {parsed.fileErrors.length ? (
            <div className="form-errors" role="alert">
              <p>
                <strong>The file cannot be imported</strong>
              </p>
              <ul>
                {parsed.fileErrors.map((e) => (
                  <li key={e}>{e}</li>
                ))}
              </ul>
            </div>
          ) : (
            <p>
              {fileName ? `${fileName}: ` : ''}
              {parsed.rows.length.toLocaleString()} rows, {readable.length.toLocaleString()} ready to send
              {unreadable.length ? `, ${unreadable.length.toLocaleString()} that cannot be read (listed in the report)` : ''}.
            </p>
          )}
          {parsed.warnings.map((w) => (
            <p key={w} className="muted">
              {w}
            </p>
          ))}
          <button type="button" className="primary" disabled={!readable.length || progress !== null || parsed.fileErrors.length > 0} onClick={() => void run()}>
            Import {readable.length.toLocaleString()} row{readable.length === 1 ? '' : 's'}
          </button>
          {progress ? (
            <p role="status">
              Sending batch {Math.min(progress.done + 1, progress.total)} of {progress.total}…
              <progress max={progress.total} value={progress.done} aria-label="Import progress" />
            </p>
          ) : null}
        </div>
      ) : null}

      {fatal ? <ErrorState error={fatal} title="The import stopped" /> : null}

      {summary ? (
        <div className="panel">
          <h2>Report</h2>
          <dl className="kpis">
            <div className="kpi">
              <dt>Created</dt>
              <dd data-testid="import-created">{summary.created.toLocaleString()}</dd>
            </div>
            <div className="kpi">
              <dt>Updated</dt>
              <dd>{summary.updated.toLocaleString()}</dd>
            </div>
            <div className="kpi">
              <dt>Rejected by the API</dt>
              <dd>{summary.rejected.toLocaleString()}</dd>
            </div>
            <div className="kpi">
              <dt>Unreadable</dt>
              <dd>{summary.unreadable.toLocaleString()}</dd>
            </div>
            <div className="kpi">
              <dt>Not sent</dt>
              <dd>{summary.notSent.toLocaleString()}</dd>
            </div>
          </dl>
          {downloadUrl ? (
            <p>
              <a href={downloadUrl} download="import-report.csv">
                Download the report (CSV)
              </a>
            </p>
          ) : null}
          <RowReport rows={summary.rows} caption="Import report by file line" />
        </div>
      ) : parsed && unreadable.length && !parsed.fileErrors.length ? (
        <div className="panel">
          <h2>Rows that cannot be read</h2>
          <RowReport rows={unreadable.map((r) => ({ line: r.line, sku: r.sku, outcome: 'unreadable', errors: r.errors }))} caption="Unreadable rows" />
        </div>
      ) : null}
    </section>
  );
}
