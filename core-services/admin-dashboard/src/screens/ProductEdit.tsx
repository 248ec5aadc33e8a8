/** Create or edit a product; API validation errors appear under the fields they name. */

import { useEffect, useState, type FormEvent } from 'react';

import { toApiError, validationError, type ApiError } from '../api/problem';
import type { Product } from '../api/types';
import { StatusBadge } from '../components/Badge';
import { CheckboxField, SelectField, TextArea, TextField } from '../components/Field';
import { ConfirmDialog } from '../components/Modal';
import { ErrorState, FormErrorSummary, Loading } from '../components/Status';
import { useApi, useNotify } from '../context';
import { formatDateTime } from '../lib/dates';
import { useAsync } from '../lib/hooks';
import { Link, navigate } from '../lib/router';
import { emptyProductForm, productToForm, validateProductForm, type ProductForm } from '../lib/validation';
import { flattenCategories } from './Products';

const FIELDS = ['sku', 'name', 'description', 'brand', 'category', 'price', 'attributes', 'image_urls', 'active'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'DKK', 'PLN', 'CZK', 'JPY'];

function Editor({ product, onSaved, onReload }: { product?: Product; onSaved: (p: Product) => void; onReload?: () => void }) {
  const api = useApi();
  const notify = useNotify();
  const [form, setForm] = useState<ProductForm>(product ? productToForm(product) : emptyProductForm);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<'deactivate' | 'delete' | null>(null);
  const categories = useAsync((signal) => api.categories(signal), []);

  useEffect(() => {
    if (product) setForm(productToForm(product));
  }, [product]);

  const set =
    <K extends keyof ProductForm>(key: K) =>
    (value: ProductForm[K]) =>
      setForm((f) => ({ ...f, [key]: value }));

  const save = async (event: FormEvent) => {
    event.preventDefault();
    const checked = validateProductForm(form);
    if (!checked.ok) {
      setError(validationError(checked.errors));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const saved = product ? await api.replaceProduct(product.id, product.version, checked.value) : await api.createProduct(checked.value);
      notify(product ? `${saved.sku} saved.` : `${saved.sku} created.`);
      onSaved(saved);
    } catch (e) {
      const err = toApiError(e);
      if (err.status === 412) {
        err.problem.detail = 'Someone changed this product since you opened it. Reload it to see their changes, then edit again.';
      }
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const err = (field: string) => error?.errorsFor(field);
  const categoryOptions = flattenCategories(categories.data ?? []);

  return (
    <>
      <form className="panel form-grid" onSubmit={(e) => void save(e)} noValidate aria-label={product ? `Edit ${product.sku}` : 'New product'}>
        <FormErrorSummary error={error} fields={FIELDS} />
        {error?.status === 412 && onReload ? (
          <p>
            <button type="button" onClick={onReload}>
              Reload the product
            </button>
          </p>
        ) : null}
        <TextField id="p-sku" label="SKU" value={form.sku} onChange={(e) => set('sku')(e.target.value)} errors={err('sku')} required hint="Letters, digits, - _ ." />
        <TextField id="p-name" label="Name" value={form.name} onChange={(e) => set('name')(e.target.value)} errors={err('name')} required />
        <TextArea id="p-description" label="Description" rows={4} value={form.description} onChange={(e) => set('description')(e.target.value)} errors={err('description')} className="span-2" />
        <TextField id="p-brand" label="Brand" value={form.brand} onChange={(e) => set('brand')(e.target.value)} errors={err('brand')} />
        <TextField
          id="p-category"
          label="Category"
          value={form.category}
          onChange={(e) => set('category')(e.target.value)}
          errors={err('category')}
          list="p-category-options"
          autoComplete="off"
          hint={
            categories.status === 'error'
              ? 'A category slug (the list of categories could not be loaded).'
              : 'A category slug, e.g. electronics; leave empty for none.'
          }
        />
        <datalist id="p-category-options">
          {categoryOptions.map((c) => (
            <option key={c.slug} value={c.slug}>
              {c.label.trim()}
            </option>
          ))}
        </datalist>
        <TextField id="p-price" label="Price" inputMode="decimal" value={form.price} onChange={(e) => set('price')(e.target.value)} errors={err('price.amount')} required hint="e.g. 19.99" />
        <SelectField id="p-currency" label="Currency" value={form.currency} onChange={(e) => set('currency')(e.target.value)} errors={err('price.currency')}>
          {(CURRENCIES.includes(form.currency) ? CURRENCIES : [form.currency, ...CURRENCIES]).map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </SelectField>
        <TextArea
          id="p-attributes"
          label="Attributes"
          rows={4}
          value={form.attributes}
          onChange={(e) => set('attributes')(e.target.value)}
          errors={err('attributes')}
          hint='One name=value per line, e.g. color=black. Quote to keep text: size="42".'
        />
        <TextArea id="p-images" label="Image URLs" rows={4} value={form.imageUrls} onChange={(e) => set('imageUrls')(e.target.value)} errors={err('image_urls')} hint="One http(s) URL per line." />
        <CheckboxField id="p-active" label="Active (visible to shoppers)" checked={form.active} onChange={(e) => set('active')(e.target.checked)} errors={err('active')} />
        <div className="form-actions span-2">
          <button type="submit" className="primary" disabled={busy} aria-busy={busy}>
            {busy ? 'Saving…' : product ? 'Save changes' : 'Create product'}
          </button>
          <Link to="/products">Cancel</Link>
          {product?.active ? (
            <button type="button" onClick={() => setConfirm('deactivate')}>
              Deactivate
            </button>
          ) : null}
          {product ? (
            <button type="button" className="danger" onClick={() => setConfirm('delete')}>
              Delete
            </button>
          ) : null}
        </div>
      </form>
      {product && confirm === 'deactivate' ? (
        <ConfirmDialog
          title="Deactivate product?"
          confirmLabel="Deactivate"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            const saved = await api.patchProduct(product.id, product.version, { active: false });
            notify(`${saved.sku} deactivated.`);
            onSaved(saved);
          }}
        >
          <p>
            Shoppers will no longer see <strong>{product.name}</strong>. You can activate it again here.
          </p>
        </ConfirmDialog>
      ) : null}
      {product && confirm === 'delete' ? (
        <ConfirmDialog
          title="Delete product?"
          confirmLabel="Delete"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await api.deleteProduct(product.id, product.version);
            notify(`${product.sku} deleted.`);
            navigate('/products');
          }}
        >
          <p>
            <strong>{product.name}</strong> (<code>{product.sku}</code>) is removed from the catalog and its SKU can be reused. This cannot be
            undone here.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export function ProductEdit({ id }: { id?: string }) {
  const api = useApi();
  const [saved, setSaved] = useState<Product | null>(null);
  const loaded = useAsync((signal) => (id ? api.adminProduct(id, signal) : Promise.resolve(null)), [id]);
  const product = saved && saved.id === id ? saved : (loaded.data ?? undefined);

  const onSaved = (p: Product) => {
    setSaved(p);
    if (!id) navigate(`/products/${p.id}`, { replace: true });
  };

  if (!id) {
    return (
      <section aria-labelledby="product-title">
        <p className="crumbs">
          <Link to="/products">Products</Link> /
        </p>
        <h1 id="product-title" tabIndex={-1}>
          New product
        </h1>
        <Editor onSaved={onSaved} />
      </section>
    );
  }
  return (
    <section aria-labelledby="product-title">
      <p className="crumbs">
        <Link to="/products">Products</Link> /
      </p>
      <h1 id="product-title" tabIndex={-1}>
        {product ? product.name : 'Product'}
      </h1>
      {loaded.status === 'error' && !product ? (
        <ErrorState error={loaded.error} onRetry={loaded.reload} title={loaded.error.status === 404 ? 'No such product' : undefined} />
      ) : !product ? (
        <Loading label="Loading product…" />
      ) : (
        <>
          <p className="meta">
            <StatusBadge status={product.active ? 'active' : 'inactive'} /> <code>{product.id}</code> · version {product.version} · updated{' '}
            {formatDateTime(product.updated_at)} · <Link to={`/inventory?sku=${encodeURIComponent(product.sku)}`}>Stock</Link>
          </p>
          {!product.active ? <ReactivateButton product={product} onSaved={onSaved} /> : null}
          <Editor
            key={`${product.id}-${product.version}`}
            product={product}
            onSaved={onSaved}
            onReload={() => {
              setSaved(null);
              loaded.reload();
            }}
          />
        </>
      )}
    </section>
  );
}

function ReactivateButton({ product, onSaved }: { product: Product; onSaved: (p: Product) => void }) {
  const api = useApi();
  const notify = useNotify();
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="panel">
      <p>This product is inactive: shoppers do not see it.</p>
      <FormErrorSummary error={error} fields={[]} />
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            const saved = await api.patchProduct(product.id, product.version, { active: true });
            notify(`${saved.sku} is live again.`);
            onSaved(saved);
          } catch (e) {
            setError(toApiError(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        Activate
      </button>
    </div>
  );
}
