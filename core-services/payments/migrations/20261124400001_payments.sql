-- One payment per order, its provider reference, and a ledger of every money movement.
create table payments (
    id              uuid primary key,
    order_id        text not null unique,
    customer_id     text not null,
    amount          bigint not null check (amount >= 0),
    currency        text not null check (currency ~ '^[A-Z]{3}$'),
    payment_method  text,
    status          text not null check (status in
        ('created', 'pending', 'authorized', 'captured', 'voided', 'failed', 'cancelled')),
    failure_reason  text,
    psp_reference   text unique,
    contact         jsonb,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index payments_status_idx on payments (status, id desc);

-- Amounts are positive; `kind` says which way money moved.
create table ledger_entries (
    id             bigserial primary key,
    payment_id     uuid not null references payments (id),
    kind           text not null check (kind in ('authorization', 'capture', 'void', 'refund')),
    amount         bigint not null check (amount > 0),
    currency       text not null,
    psp_reference  text,
    refund_id      uuid,
    created_at     timestamptz not null default now()
);
create index ledger_entries_payment_idx on ledger_entries (payment_id, id);

create table refunds (
    id               uuid primary key,
    payment_id       uuid not null references payments (id),
    amount           bigint not null check (amount > 0),
    reason           text not null,
    idempotency_key  text,
    psp_reference    text,
    requested_by     text not null,
    created_at       timestamptz not null default now(),
    unique (payment_id, idempotency_key)
);
