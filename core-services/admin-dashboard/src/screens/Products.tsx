/** Products: every product, inactive ones too, searched and filtered like the shop does; open, deactivate, activate. */

import { useState, type FormEvent } from 'react';

import { type ApiError, toApiError, validationError } from '../api/problem';
import type { CategoryNode, Product } from '../api/types';
import { CursorTable } from '../components/DataTable';
import { SelectField, TextField } from '../components/Field';
import { ConfirmDialog } from '../components/Modal';
import { StatusBadge } from '../components/Badge';
import { FormErrorSummary } from '../components/Status';
import { useApi, useNotify } from '../context';
import type { ProductSearch, ProductStatusFilter } from '../api/endpoints';
import { useAsync, useCursorList } from '../lib/hooks';
import { formatMoney, parseDecimalAmount } from '../lib/money';
import { Link, navigate } from '../lib/router';

/** The category tree flattened with indentation for a select. */
export function flattenCategories(nodes: readonly CategoryNode[], depth = 0): { slug: string; label: string }[] {
  return nodes.flatMap((n) => [{ slug: n.slug, label: `${'\u00a0\u00a0'.repeat(depth)}${n.name}` }, ...flattenCategories(n.children, depth + 1)]);
}

export interface FilterForm {
  q: string;
  category: string;
  brand: string;
  minPrice: string;
  maxPrice: string;
  sort: string;
  status: ProductStatusFilter;
}

export const emptyFilters: FilterForm = { q: '', category: '', brand: '', minPrice: '', maxPrice: '', sort: '', status: 'all' };
const FILTER_FIELDS = ['q', 'category', 'brand', 'min_price', 'max_price', 'sort', 'status', 'limit', 'cursor'];

export function toSearch(form: FilterForm): { search: ProductSearch } | { error: ApiError } {
  const errors = [];
  const search: ProductSearch = {};
  if (form.q.trim()) search.q = form.q.trim();
  if (form.category) search.category = form.category;
  if (form.brand.trim()) search.brand = form.brand.trim();
  if (form.sort) search.sort = form.sort;
  if (form.status !== 'all') search.status = form.status;
  for (const [key, text] of [
    ['min_price', form.minPrice],
    ['max_price', form.maxPrice],
  ] as const) {
    if (!text.trim()) continue;
    const parsed = parseDecimalAmount(text, 'EUR');
    if (parsed.ok) search[key] = parsed.amount;
    else errors.push({ field: key, message: parsed.message });
  }
  if (search.min_price !== undefined && search.max_price !== undefined && search.min_price > search.max_price) {
    errors.push({ field: 'max_price', message: 'must not be below the lowest price' });
  }
  if (search.min_price !== undefined || search.max_price !== undefined) search.currency = 'EUR';
  return errors.length ? { error: validationError(errors) } : { search };
}

function OpenProduct() {
  const api = useApi();
  const [value, setValue] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const open = async (event: FormEvent) => {
    event.preventDefault();
    const text = value.trim();
    if (!text) {
      setError(validationError([{ field: 'lookup', message: 'enter a product id or SKU' }]));
      return;
    }
    setError(null);
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) {
      navigate(`/products/${text}`);
      return;
    }
    setBusy(true);
    try {
      const product = await api.productBySku(text);
      navigate(`/products/${product.id}`);
    } catch (e) {
      const err = toApiError(e);
      setError(
        err.status === 404
          ? validationError([{ field: 'lookup', message: 'no live product has this SKU (list inactive ones with State: Inactive)' }])
          : err,
      );
      setBusy(false);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void open(e)} noValidate aria-label="Open a product">
      <TextField
        id="product-lookup"
        label="Open by id or SKU"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        errors={error?.errorsFor('lookup') ?? (error && error.fieldErrors.length === 0 ? [error.message] : undefined)}
      />
      <button type="submit" disabled={busy}>
        Open
      </button>
    </form>
  );
}

export function Products() {
  const api = useApi();
  const notify = useNotify();
  const [form, setForm] = useState<FilterForm>(emptyFilters);
  const [applied, setApplied] = useState<ProductSearch>({});
  const [formError, setFormError] = useState<ApiError | null>(null);
  const [deactivating, setDeactivating] = useState<Product | null>(null);
  const [activating, setActivating] = useState<Product | null>(null);
  const categories = useAsync((signal) => api.categories(signal), []);
  const list = useCursorList((cursor, limit, signal) => api.adminProducts(applied, cursor, limit, signal), [applied]);
  const listError = list.state.status === 'error' ? list.state.error : null;

  const set = (key: keyof FilterForm) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = toSearch(form);
    if ('error' in result) {
      setFormError(result.error);
      return;
    }
    setFormError(null);
    setApplied(result.search);
  };

  // Bad query parameters come back as 400 naming the parameter: show them on the filter form.
  const fieldError = (field: string) => formError?.errorsFor(field) ?? (listError?.status === 400 ? listError.errorsFor(field) : undefined);

  return (
    <section aria-labelledby="products-title">
      <div className="page-head">
        <h1 id="products-title" tabIndex={-1}>
          Products
        </h1>
        <div className="actions">
          <Link className="button primary" to="/products/new">
            New product
          </Link>
          <Link className="button" to="/products/import">
            Import CSV
          </Link>
        </div>
      </div>

      <div className="panel">
        <form className="filters" onSubmit={submit} noValidate aria-label="Search products">
          <FormErrorSummary error={formError} fields={FILTER_FIELDS} />
          <TextField id="f-q" label="Search" type="search" value={form.q} onChange={set('q')} errors={fieldError('q')} placeholder="name, brand, description" />
          <SelectField id="f-category" label="Category" value={form.category} onChange={set('category')} errors={fieldError('category')}>
            <option value="">All categories</option>
            {flattenCategories(categories.data ?? []).map((c) => (
              <option key={c.slug} value={c.slug}>
                {c.label}
              </option>
            ))}
          </SelectField>
          <TextField id="f-brand" label="Brand" value={form.brand} onChange={set('brand')} errors={fieldError('brand')} />
          <TextField id="f-min" label="Min price (EUR)" inputMode="decimal" value={form.minPrice} onChange={set('minPrice')} errors={fieldError('min_price')} />
          <TextField id="f-max" label="Max price (EUR)" inputMode="decimal" value={form.maxPrice} onChange={set('maxPrice')} errors={fieldError('max_price')} />
          <SelectField id="f-sort" label="Sort" value={form.sort} onChange={set('sort')} errors={fieldError('sort')}>
            <option value="">Default</option>
            <option value="relevance">Relevance</option>
            <option value="newest">Newest</option>
            <option value="price_asc">Price, low to high</option>
            <option value="price_desc">Price, high to low</option>
          </SelectField>
          <SelectField id="f-status" label="State" value={form.status} onChange={set('status')} errors={fieldError('status')}>
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="inactive">Inactive</option>
          </SelectField>
          <div className="filter-actions">
            <button type="submit" className="primary">
              Search
            </button>
            <button
              type="button"
              onClick={() => {
                setForm(emptyFilters);
                setApplied({});
                setFormError(null);
              }}
            >
              Clear
            </button>
          </div>
        </form>
        {categories.status === 'error' ? <p className="muted small">Categories could not be loaded: {categories.error.message}</p> : null}
        <OpenProduct />
        <p className="muted small">Every product is listed, inactive ones too; shoppers see only the active ones.</p>
      </div>

      <CursorTable
        caption="Products"
        hiddenCaption
        list={list}
        rowKey={(p) => p.id}
        empty="No products match these filters."
        columns={[
          { key: 'sku', header: 'SKU', render: (p) => <code>{p.sku}</code> },
          { key: 'name', header: 'Name', render: (p) => <Link to={`/products/${p.id}`}>{p.name}</Link> },
          { key: 'brand', header: 'Brand', render: (p) => p.brand ?? '—' },
          { key: 'category', header: 'Category', render: (p) => p.category ?? '—' },
          { key: 'price', header: 'Price', className: 'num', render: (p) => formatMoney(p.price) },
          { key: 'active', header: 'State', render: (p) => <StatusBadge status={p.active ? 'active' : 'inactive'} /> },
          {
            key: 'actions',
            header: <span className="visually-hidden">Actions</span>,
            render: (p) => (
              <span className="row-actions">
                <Link to={`/products/${p.id}`} aria-label={`Edit ${p.name}`}>
                  Edit
                </Link>
                {p.active ? (
                  <button type="button" className="link-button" onClick={() => setDeactivating(p)} aria-label={`Deactivate ${p.name}`}>
                    Deactivate
                  </button>
                ) : (
                  <button type="button" className="link-button" onClick={() => setActivating(p)} aria-label={`Activate ${p.name}`}>
                    Activate
                  </button>
                )}
              </span>
            ),
          },
        ]}
      />

      {deactivating ? (
        <ConfirmDialog
          title="Deactivate product?"
          confirmLabel="Deactivate"
          danger
          onClose={() => setDeactivating(null)}
          onConfirm={async () => {
            await api.patchProduct(deactivating.id, deactivating.version, { active: false });
            notify(`${deactivating.sku} deactivated: shoppers no longer see it.`);
            list.reload();
          }}
        >
          <p>
            <strong>{deactivating.name}</strong> (<code>{deactivating.sku}</code>) will disappear from the shop. You can activate it again from its
            page.
          </p>
        </ConfirmDialog>
      ) : null}

      {activating ? (
        <ConfirmDialog
          title="Activate product?"
          confirmLabel="Activate"
          onClose={() => setActivating(null)}
          onConfirm={async () => {
            await api.patchProduct(activating.id, activating.version, { active: true });
            notify(`${activating.sku} activated: shoppers can find it again.`);
            list.reload();
          }}
        >
          <p>
            <strong>{activating.name}</strong> (<code>{activating.sku}</code>) will be back in the shop at its current price.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
