-- Carts (the durable copy; Redis holds a write-through cache), orders with their saga state
-- and timeline, and checkout idempotency keys.
-- `version` grows with every change; the Redis copy is only ever replaced by a newer version.
create table carts (
    customer_id  text primary key,
    version      bigint not null default 0,
    updated_at   timestamptz not null default now()
);

create table cart_lines (
    customer_id  text not null references carts (customer_id),
    sku          text not null,
    product_id   uuid not null,
    name         text not null,
    quantity     integer not null check (quantity between 1 and 100),
    unit_amount  bigint not null check (unit_amount >= 0),
    currency     text not null check (currency ~ '^[A-Z]{3}$'),
    added_at     timestamptz not null default now(),
    primary key (customer_id, sku)
);

create table orders (
    id                      uuid primary key,
    customer_id             text not null,
    status                  text not null
        check (status in ('PENDING', 'RESERVED', 'PAID', 'CONFIRMED', 'SHIPPED', 'CANCELLED')),
    cancel_reason           text,
    total_amount            bigint not null check (total_amount >= 0),
    currency                text not null check (currency ~ '^[A-Z]{3}$'),
    contact                 jsonb not null,
    payment_id              text,
    reservation_expires_at  timestamptz,
    carrier                 text,
    tracking_number         text,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    check ((status = 'CANCELLED') = (cancel_reason is not null))
);
create index orders_customer_idx on orders (customer_id, id desc);
create index orders_in_flight_idx on orders (created_at) where status in ('PENDING', 'RESERVED', 'PAID');
create index orders_status_idx on orders (status, id desc);

create table order_lines (
    order_id     uuid not null references orders (id),
    sku          text not null,
    product_id   uuid not null,
    name         text not null,
    quantity     integer not null check (quantity > 0),
    unit_amount  bigint not null check (unit_amount >= 0),
    primary key (order_id, sku)
);

-- Every step of the saga, in order: what happened, the state it led to, and the event behind it.
create table order_timeline (
    id        bigserial primary key,
    order_id  uuid not null references orders (id),
    step      text not null,
    status    text not null,
    detail    jsonb not null default '{}',
    event_id  text,
    at        timestamptz not null default now()
);
create index order_timeline_order_idx on order_timeline (order_id, id);

-- Checkout idempotency: one row per (customer, key), kept 24 hours.
create table idempotency_keys (
    customer_id      text not null,
    key              text not null,
    request_hash     text not null,
    state            text not null check (state in ('in_progress', 'done')),
    response_status  integer,
    response_body    jsonb,
    created_at       timestamptz not null default now(),
    primary key (customer_id, key)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);
