-- Stripe webhook events applied, by event id: Stripe may deliver an event more than once (its
-- retries are signed anew), and the second delivery changes nothing.
create table provider_events (
    id           text primary key,
    type         text not null,
    payment_id   uuid references payments (id),
    received_at  timestamptz not null default now()
);
create index provider_events_payment_idx on provider_events (payment_id);
