/** Shapes of the public API's resources, as the Rust services serialize them. */

/** `{"amount": <minor units>, "currency": "EUR"}`. */
export interface Money {
  amount: number;
  currency: string;
}

/** Every list: `{"items": [...], "next_cursor": "..." | null}`. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

// ---- accounts ----

/** The signed-in account: `GET /me`. */
export interface Me {
  id: string;
  email: string;
  name: string;
  phone: string | null;
  roles: string[];
  email_verified: boolean;
  created_at: string;
}

/** `POST /me/password`: the current password and a new one (10 to 128 characters, different). */
export interface PasswordChange {
  current_password: string;
  new_password: string;
}

// ---- catalog ----

export type AttributeValue = string | number | boolean;

/** What `POST /admin/products` and `PUT /admin/products/{id}` take. */
export interface ProductInput {
  sku: string;
  name: string;
  description: string;
  brand: string | null;
  category: string | null;
  price: Money;
  attributes: Record<string, AttributeValue>;
  image_urls: string[];
  active: boolean;
}

/** A product as the API returns it: the input plus what the catalog assigns. */
export interface Product extends ProductInput {
  id: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface CategoryNode {
  id: string;
  slug: string;
  name: string;
  children: CategoryNode[];
}

export interface ImportRowError {
  index: number;
  sku: string | null;
  errors: { field: string; message: string }[];
}

export interface ImportReport {
  created: number;
  updated: number;
  failed: number;
  errors: ImportRowError[];
}

// ---- inventory ----

export interface StockLevel {
  sku: string;
  on_hand: number;
  reserved: number;
  low_threshold: number;
}

export interface StockRow extends StockLevel {
  available: number;
  low: boolean;
}

export interface Reservation {
  order_id: string;
  sku: string;
  quantity: number;
  expires_at: string;
}

/** `PUT /admin/inventory/{sku}`: exactly one of `on_hand` and `adjust`. */
export interface StockChange {
  on_hand?: number;
  adjust?: number;
  reason: string;
  low_threshold?: number;
}

// ---- orders ----

export const ORDER_STATUSES = ['PENDING', 'RESERVED', 'PAID', 'CONFIRMED', 'SHIPPED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const IN_FLIGHT: readonly string[] = ['PENDING', 'RESERVED', 'PAID'];

export interface OrderSummary {
  id: string;
  customer_id: string;
  status: string;
  cancel_reason: string | null;
  total_amount: number;
  currency: string;
  created_at: string;
  updated_at: string;
}

export interface OrderLine {
  sku: string;
  product_id: string;
  name: string;
  quantity: number;
  unit_amount: number;
}

export interface TimelineStep {
  step: string;
  status: string;
  detail: Record<string, unknown> | null;
  event_id: string | null;
  at: string;
}

export interface Order extends OrderSummary {
  total: Money;
  lines: OrderLine[];
  contact: Record<string, unknown> | null;
  payment_id: string | null;
  carrier: string | null;
  tracking_number: string | null;
  timeline: TimelineStep[];
}

export interface OrdersSummary {
  orders_placed: number;
  revenue: Money[];
  by_status: { status: string; count: number }[];
  cancellations: { reason: string; count: number }[];
}

// ---- payments ----

/** Money moved in a window, one currency: `GET /admin/payments/summary`. */
export interface MoneyMoved {
  currency: string;
  captured: number;
  refunded: number;
  net: number;
  captures: number;
  refunds: number;
}

export interface PaymentsSummary {
  currencies: MoneyMoved[];
}

/** One disagreement between our ledger and Stripe's PaymentIntents. */
export interface ReconciliationDifference {
  kind: 'unknown_to_ledger' | 'missing_at_provider' | 'status' | 'amount' | 'captured' | 'refunded' | 'held' | string;
  payment_id: string | null;
  order_id: string | null;
  intent_id: string | null;
  ours: string;
  provider: string;
}

/** `GET /admin/payments/reconciliation`: the ledger against Stripe for a window. */
export interface Reconciliation {
  from: string;
  to: string;
  payments_checked: number;
  intents_checked: number;
  differences: ReconciliationDifference[];
}

export const PAYMENT_STATUSES = ['created', 'authorizing', 'pending', 'authorized', 'captured', 'voided', 'failed', 'cancelled'] as const;

export interface Payment {
  id: string;
  order_id: string;
  customer_id: string;
  amount: number;
  currency: string;
  status: string;
  failure_reason: string | null;
  psp_reference: string | null;
  created_at: string;
  updated_at: string;
}

export interface LedgerEntry {
  id: number;
  kind: 'authorization' | 'capture' | 'void' | 'refund' | string;
  amount: number;
  currency: string;
  psp_reference: string | null;
  refund_id: string | null;
  created_at: string;
}

export interface Balance {
  authorized: number;
  captured: number;
  voided: number;
  refunded: number;
  net: number;
  reconciles: boolean;
}

export interface PaymentDetail extends Payment {
  ledger: LedgerEntry[];
  balance: Balance;
}

export interface Refund {
  id: string;
  order_id: string;
  amount: number;
  currency: string;
  reason: string;
}

// ---- webhooks ----

export interface Subscription {
  id: string;
  url: string;
  event_types: string[];
  description: string;
  status: 'active' | 'disabled' | string;
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface SubscriptionWithSecret {
  subscription: Subscription;
  secret: string;
}

export interface Delivery {
  delivery_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status_code: number | null;
  outcome: 'delivered' | 'retrying' | 'failed' | 'disabled' | string;
  error: string | null;
  at: string;
}

/** Event types partners can subscribe to (`events/src/payloads.rs`). */
export const EVENT_TYPES = [
  'order.placed',
  'order.confirmed',
  'order.cancelled',
  'order.shipped',
  'inventory.reserved',
  'inventory.rejected',
  'inventory.released',
  'stock.low',
  'payment.authorized',
  'payment.failed',
  'payment.captured',
  'payment.refunded',
  'product.created',
  'product.updated',
  'product.deleted',
  'user.registered',
] as const;

// ---- dead letters ----

export const DLQ_SERVICES = ['inventory', 'orders', 'payments', 'bridge'] as const;
export type DlqService = (typeof DLQ_SERVICES)[number];

export interface DeadLetterQueue {
  queue: string;
  depth: number;
}

export interface DeadLetter {
  id: string;
  event_type: string | null;
  error: string | null;
  body: unknown;
}
