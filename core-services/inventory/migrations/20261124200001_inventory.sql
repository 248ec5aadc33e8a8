-- Stock per SKU and reservations. Available = on_hand - reserved, never below zero.
create table stock (
    sku            text primary key,
    on_hand        integer not null check (on_hand >= 0),
    reserved       integer not null default 0 check (reserved >= 0),
    low_threshold  integer not null default 5 check (low_threshold >= 0),
    updated_at     timestamptz not null default now(),
    check (reserved <= on_hand)
);

create table reservations (
    id          uuid primary key,
    order_id    text not null unique,
    status      text not null check (status in ('held', 'committed', 'released')),
    reason      text,
    expires_at  timestamptz not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index reservations_expiry_idx on reservations (expires_at) where status = 'held';

create table reservation_lines (
    reservation_id  uuid not null references reservations (id),
    sku             text not null references stock (sku),
    quantity        integer not null check (quantity > 0),
    primary key (reservation_id, sku)
);

-- Every change of on_hand, with its reason (restock, adjustment, shipment of an order).
create table stock_movements (
    id          bigserial primary key,
    sku         text not null references stock (sku),
    delta       integer not null,
    reason      text not null,
    created_at  timestamptz not null default now()
);
