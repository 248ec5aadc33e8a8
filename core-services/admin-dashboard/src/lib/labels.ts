/** Words for the codes the API uses. */

const REASONS: Record<string, string> = {
  out_of_stock: 'Out of stock',
  payment_declined: 'Payment declined',
  payment_timeout: 'Payment timed out',
  payment_failed: 'Payment failed',
  reservation_expired: 'Reservation expired',
  timeout: 'Saga timed out',
  cancelled_by_customer: 'Cancelled by customer',
  cancelled_by_shop: 'Cancelled by shop',
};

const STEPS: Record<string, string> = {
  placed: 'Order placed',
  stock_reserved: 'Stock reserved',
  stock_rejected: 'Stock rejected',
  stock_released: 'Stock released',
  reservation_expired: 'Reservation expired',
  payment_authorized: 'Payment authorized',
  payment_failed: 'Payment failed',
  payment_captured: 'Payment captured',
  payment_refunded: 'Payment refunded',
  confirmed: 'Confirmed',
  cancelled: 'Cancelled',
  shipped: 'Shipped',
};

/** `snake_case` -> `Snake case`. */
export function humanize(code: string): string {
  const words = code.replace(/[._-]+/g, ' ').trim().toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : code;
}

export function reasonLabel(reason: string | null | undefined): string {
  if (!reason) return '—';
  return REASONS[reason] ?? humanize(reason);
}

export function stepLabel(step: string): string {
  return STEPS[step] ?? humanize(step);
}

/** Badge class for an order or payment state. */
export function statusTone(status: string): 'ok' | 'bad' | 'warn' | 'info' | 'neutral' {
  switch (status.toUpperCase()) {
    case 'CONFIRMED':
    case 'SHIPPED':
    case 'CAPTURED':
    case 'DELIVERED':
    case 'ACTIVE':
      return 'ok';
    case 'CANCELLED':
    case 'FAILED':
    case 'DISABLED':
    case 'VOIDED':
      return 'bad';
    case 'PENDING':
    case 'RESERVED':
    case 'PAID':
    case 'AUTHORIZED':
    case 'RETRYING':
    case 'CREATED':
      return 'warn';
    default:
      return 'neutral';
  }
}
