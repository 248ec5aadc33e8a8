-- Provider calls happen with no transaction open: the intent is recorded first (`authorizing`,
-- a refund `requested`), the call carries an idempotency key, and the outcome is recorded after.
-- A crash in between repeats the call with the same key.
alter table payments drop constraint payments_status_check;
alter table payments add constraint payments_status_check check (status in
    ('created', 'authorizing', 'pending', 'authorized', 'captured', 'voided', 'failed', 'cancelled'));
-- Set when an authorization was first asked for; kept on a payment cancelled meanwhile until the
-- hold it may have made is released.
alter table payments add column authorize_requested_at timestamptz;

alter table refunds add column status text not null default 'succeeded'
    check (status in ('requested', 'succeeded', 'failed'));
alter table refunds add column failure_reason text;
