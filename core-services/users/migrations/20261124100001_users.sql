-- Accounts, notification preferences and refresh tokens.
create table users (
    id             uuid primary key,
    email          text not null unique check (email = lower(email)),
    password_hash  text not null,
    name           text not null check (length(name) between 1 and 100),
    phone          text check (phone ~ '^\+[1-9][0-9]{1,14}$'),
    roles          text[] not null default '{shopper}',
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);

create table preferences (
    user_id              uuid primary key references users (id) on delete cascade,
    email_notifications  boolean not null default true,
    sms_notifications    boolean not null default false,
    marketing_opt_in     boolean not null default false,
    locale               text not null default 'en',
    updated_at           timestamptz not null default now()
);

-- Opaque refresh tokens, stored as SHA-256 hashes. Tokens issued from one login share a
-- family; presenting a used token again revokes the family (theft detection).
create table refresh_tokens (
    id          uuid primary key,
    family_id   uuid not null,
    user_id     uuid not null references users (id) on delete cascade,
    token_hash  bytea not null unique,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz,
    revoked_at  timestamptz
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);
