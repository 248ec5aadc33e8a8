-- Email verification and single-use account tokens (verification, password reset), stored
-- as SHA-256 hashes only: the token itself goes out sealed in an event, to the mailer.
alter table users add column email_verified_at timestamptz;

create table account_tokens (
    token_hash  bytea primary key,
    user_id     uuid not null references users (id) on delete cascade,
    purpose     text not null check (purpose in ('verify_email', 'reset_password')),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index account_tokens_user_idx on account_tokens (user_id, purpose);
