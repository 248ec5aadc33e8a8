/** Typed calls to the public API (paths relative to `/api/v1`). */

import { newIdempotencyKey, type ApiClient } from './client';
import type {
  CategoryNode,
  DeadLetter,
  DeadLetterQueue,
  Delivery,
  ImportReport,
  Me,
  Order,
  OrderSummary,
  OrdersSummary,
  Page,
  Payment,
  PaymentDetail,
  PasswordChange,
  PaymentsSummary,
  Reconciliation,
  Product,
  ProductInput,
  Refund,
  Reservation,
  StockChange,
  StockLevel,
  StockRow,
  Subscription,
  SubscriptionWithSecret,
} from './types';

const seg = encodeURIComponent;

/** The entity tag of a product version, as `If-Match` wants it. */
export function productEtag(product: Pick<Product, 'version'>): string {
  return `"${product.version}"`;
}

export interface ProductSearch {
  q?: string;
  category?: string;
  brand?: string;
  min_price?: number;
  max_price?: number;
  currency?: string;
  sort?: string;
  /** Admin listing only: `all` (the default), `active` or `inactive`. */
  status?: ProductStatusFilter;
}

export type ProductStatusFilter = 'all' | 'active' | 'inactive';

export function createApi(client: ApiClient) {
  return {
    // ---- the signed-in account ----
    me: (signal?: AbortSignal) => client.get<Me>('/me', undefined, signal),
    /**
     * Changes the password. Every earlier session of the account ends, this one included; the
     * answer's tokens start a new session, which the client adopts (resolves with it).
     */
    changePassword: (input: PasswordChange) => client.replaceSession('/me/password', input),
    /** Ends every session of the account (`204`), this one included, then signs out here. */
    signOutEverywhere: () => client.signOutEverywhere('/me/sessions/revoke-all'),
    /** Ends every session of another account (admins; a compromised account). `204`. */
    endUserSessions: (userId: string) => client.request<void>('POST', `/users/${seg(userId)}/sessions/revoke-all`),

    // ---- catalog ----
    /** Every product as admins see it (inactive ones too), read from the database. */
    adminProducts: (search: ProductSearch, cursor: string | null, limit: number, signal?: AbortSignal) =>
      client.get<Page<Product>>('/admin/products', { ...search, cursor, limit }, signal),
    categories: (signal?: AbortSignal) => client.get<CategoryNode[]>('/categories', undefined, signal),
    productBySku: (sku: string) => client.get<Product>(`/products/by-sku/${seg(sku)}`),
    adminProduct: (id: string, signal?: AbortSignal) => client.get<Product>(`/admin/products/${seg(id)}`, undefined, signal),
    createProduct: (input: ProductInput) => client.request<Product>('POST', '/admin/products', { body: input }),
    replaceProduct: (id: string, version: number, input: ProductInput) =>
      client.request<Product>('PUT', `/admin/products/${seg(id)}`, {
        body: input,
        headers: { 'If-Match': productEtag({ version }) },
      }),
    patchProduct: (id: string, version: number, patch: Partial<ProductInput>) =>
      client.request<Product>('PATCH', `/admin/products/${seg(id)}`, {
        body: patch,
        contentType: 'application/merge-patch+json',
        headers: { 'If-Match': productEtag({ version }) },
      }),
    deleteProduct: (id: string, version: number) =>
      client.request<void>('DELETE', `/admin/products/${seg(id)}`, { headers: { 'If-Match': productEtag({ version }) } }),
    importProducts: (products: unknown[]) =>
      client.request<ImportReport>('POST', '/admin/products/import', { body: { products } }),

    // ---- inventory ----
    inventory: (lowOnly: boolean, cursor: string | null, limit: number, signal?: AbortSignal) =>
      client.get<Page<StockRow>>('/admin/inventory', { low_only: lowOnly, cursor, limit }, signal),
    reservations: (cursor: string | null, limit: number, signal?: AbortSignal) =>
      client.get<Page<Reservation>>('/admin/inventory/reservations', { cursor, limit }, signal),
    stockLevel: (sku: string, signal?: AbortSignal) =>
      client.get<StockLevel>(`/admin/inventory/${seg(sku)}`, undefined, signal),
    changeStock: (sku: string, change: StockChange) =>
      client.request<StockLevel>('PUT', `/admin/inventory/${seg(sku)}`, { body: change }),

    // ---- orders ----
    ordersSummary: (from: string, to: string, signal?: AbortSignal) =>
      client.get<OrdersSummary>('/admin/orders/summary', { from, to }, signal),
    orders: (
      filter: { status?: string; customer_id?: string; from?: string; to?: string },
      cursor: string | null,
      limit: number,
      signal?: AbortSignal,
    ) => client.get<Page<OrderSummary>>('/admin/orders', { ...filter, cursor, limit }, signal),
    order: (id: string, signal?: AbortSignal) => client.get<Order>(`/admin/orders/${seg(id)}`, undefined, signal),
    shipOrder: (id: string, shipment: { carrier?: string; tracking_number?: string }) =>
      client.request<Order>('POST', `/admin/orders/${seg(id)}/ship`, { body: shipment }),
    cancelOrder: (id: string) => client.request<Order>('POST', `/admin/orders/${seg(id)}/cancel`),

    // ---- payments ----
    paymentsSummary: (from: string, to: string, signal?: AbortSignal) =>
      client.get<PaymentsSummary>('/admin/payments/summary', { from, to }, signal),
    /** Compares the ledger with Stripe's PaymentIntents created in `[from, to)`. */
    reconciliation: (from: string, to: string, signal?: AbortSignal) =>
      client.get<Reconciliation>('/admin/payments/reconciliation', { from, to }, signal),
    payments: (status: string | undefined, cursor: string | null, limit: number, signal?: AbortSignal) =>
      client.get<Page<Payment>>('/admin/payments', { status, cursor, limit }, signal),
    payment: (orderId: string, signal?: AbortSignal) =>
      client.get<PaymentDetail>(`/admin/payments/${seg(orderId)}`, undefined, signal),
    /** `idempotencyKey` should be made once per refund the admin means, and reused on retry. */
    refund: (orderId: string, input: { amount?: number; reason: string }, idempotencyKey: string = newIdempotencyKey()) =>
      client.request<Refund>('POST', `/admin/payments/${seg(orderId)}/refunds`, {
        body: input,
        headers: { 'Idempotency-Key': idempotencyKey },
      }),

    // ---- webhooks ----
    webhooks: (cursor: string | null, limit: number, signal?: AbortSignal) =>
      client.get<Page<Subscription>>('/admin/webhooks', { cursor, limit }, signal),
    webhook: (id: string, signal?: AbortSignal) => client.get<Subscription>(`/admin/webhooks/${seg(id)}`, undefined, signal),
    createWebhook: (input: { url: string; event_types: string[]; description: string }) =>
      client.request<SubscriptionWithSecret>('POST', '/admin/webhooks', { body: input }),
    rotateWebhookSecret: (id: string) =>
      client.request<SubscriptionWithSecret>('POST', `/admin/webhooks/${seg(id)}/rotate-secret`),
    disableWebhook: (id: string) => client.request<Subscription>('POST', `/admin/webhooks/${seg(id)}/disable`),
    enableWebhook: (id: string) => client.request<Subscription>('POST', `/admin/webhooks/${seg(id)}/enable`),
    deliveries: (id: string, cursor: string | null, limit: number, signal?: AbortSignal) =>
      client.get<Page<Delivery>>(`/admin/webhooks/${seg(id)}/deliveries`, { cursor, limit }, signal),

    // ---- dead letters ----
    deadLetterQueues: (service: string, signal?: AbortSignal) =>
      client.get<{ items: DeadLetterQueue[] }>(`/admin/dead-letters/${seg(service)}`, undefined, signal),
    deadLetters: (service: string, queue: string, signal?: AbortSignal) =>
      client.get<{ items: DeadLetter[] }>(`/admin/dead-letters/${seg(service)}/${seg(queue)}`, undefined, signal),
    replayDeadLetter: (service: string, queue: string, id: string) =>
      client.request<{ replayed: number }>('POST', `/admin/dead-letters/${seg(service)}/${seg(queue)}/${seg(id)}/replay`),
    discardDeadLetter: (service: string, queue: string, id: string) =>
      client.request<void>('DELETE', `/admin/dead-letters/${seg(service)}/${seg(queue)}/${seg(id)}`),
  };
}

export type Api = ReturnType<typeof createApi>;
