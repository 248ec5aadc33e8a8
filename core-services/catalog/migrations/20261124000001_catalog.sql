-- Catalog: categories (a tree) and products with weighted full-text search and trigram
-- typo tolerance.
create extension if not exists pg_trgm;

create table categories (
    id          uuid primary key,
    slug        text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name        text not null check (length(name) between 1 and 100),
    parent_id   uuid references categories (id),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index categories_parent_idx on categories (parent_id);

create table products (
    id            uuid primary key,
    sku           text not null,
    name          text not null check (length(name) between 1 and 200),
    description   text not null default '',
    brand         text,
    category_id   uuid references categories (id),
    price_amount  bigint not null check (price_amount >= 0),
    currency      char(3) not null,
    attributes    jsonb not null default '{}'::jsonb,
    image_urls    text[] not null default '{}',
    active        boolean not null default true,
    version       bigint not null default 1,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    deleted_at    timestamptz,
    -- Weighted so a hit in the name outranks one in the brand, which outranks the description.
    search        tsvector generated always as (
                      setweight(to_tsvector('english', name), 'A')
                   || setweight(to_tsvector('english', coalesce(brand, '')), 'B')
                   || setweight(to_tsvector('english', description), 'C')
                  ) stored
);

-- A SKU is unique among live products; a deleted product's SKU can be reused.
create unique index products_sku_live_key on products (sku) where deleted_at is null;
create index products_search_idx on products using gin (search);
create index products_name_trgm_idx on products using gin (name gin_trgm_ops);
create index products_newest_idx on products (created_at desc, id desc)
    where deleted_at is null and active;
create index products_price_idx on products (price_amount, id)
    where deleted_at is null and active;
create index products_category_idx on products (category_id)
    where deleted_at is null and active;
create index products_brand_idx on products (lower(brand))
    where deleted_at is null and active;
