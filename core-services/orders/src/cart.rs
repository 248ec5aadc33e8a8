//! Carts: PostgreSQL holds every cart (it survives a Redis restart); Redis holds a
//! write-through copy that serves reads. Each cart has a version that grows with every change,
//! and the cached copy is replaced only by a newer version (an atomic script), so a slow writer
//! or a reader refilling the cache can never put an older cart back.
//!
//! Prices are [`Money`]; line totals and the subtotal are overflow-checked, and a change that
//! would take them past [`service_kit::money::MAX_AMOUNT`] is refused (422) before it is stored.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::money::{Money, MoneyError};
use service_kit::redis::RedisClient;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

/// Most units of one SKU in a cart.
pub const MAX_QUANTITY: i32 = 100;

/// One cart line with the price seen when it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartLine {
    /// SKU.
    pub sku: String,
    /// Catalog product id.
    pub product_id: Uuid,
    /// Product name when added.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price when added (re-checked at checkout).
    pub unit_price: Money,
    /// `quantity * unit_price`.
    pub line_total: Money,
}

/// A shopper's cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    /// Lines, by SKU.
    pub lines: Vec<CartLine>,
    /// Sum of the lines (absent when the cart is empty).
    pub subtotal: Option<Money>,
    /// Grows with every change.
    pub version: i64,
}

const SET_IF_NEWER: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'cart', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Reads and writes carts.
#[derive(Debug, Clone)]
pub struct CartStore {
    pool: PgPool,
    redis: RedisClient,
    ttl: Duration,
    max_lines: usize,
    script: std::sync::Arc<redis::Script>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    sku: String,
    product_id: Uuid,
    name: String,
    quantity: i32,
    unit_amount: i64,
    currency: String,
}

impl CartStore {
    /// A store over `pool`, caching in `redis` for `ttl`.
    pub fn new(pool: PgPool, redis: RedisClient, ttl: Duration, max_lines: usize) -> Self {
        Self {
            pool,
            redis,
            ttl,
            max_lines,
            script: std::sync::Arc::new(redis::Script::new(SET_IF_NEWER)),
        }
    }

    fn key(&self, customer: &str) -> String {
        self.redis.key(&format!("cart:{customer}"))
    }

    /// The cart, from Redis when cached, else from PostgreSQL (and cached).
    pub async fn get(&self, customer: &str) -> Result<Cart, ApiError> {
        let cached: Result<Option<String>, _> = self
            .redis
            .query(redis::cmd("HGET").arg(self.key(customer)).arg("cart"))
            .await;
        match cached {
            Ok(Some(json)) => match serde_json::from_str::<Cart>(&json) {
                Ok(cart) => return Ok(cart),
                Err(err) => tracing::warn!(error = %err, "unreadable cached cart; reloading"),
            },
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "cart cache unavailable; reading PostgreSQL"),
        }
        let mut conn = self.pool.acquire().await?;
        let cart = load(&mut conn, customer).await?;
        drop(conn);
        self.cache(customer, &cart).await;
        Ok(cart)
    }

    /// Puts `cart` in Redis unless a newer version is there. Failures only cost a cache miss.
    pub async fn cache(&self, customer: &str, cart: &Cart) {
        let Ok(json) = serde_json::to_string(cart) else {
            return;
        };
        let mut invocation = self.script.key(self.key(customer));
        invocation
            .arg(cart.version)
            .arg(json)
            .arg(self.ttl.as_secs().max(1));
        if let Err(err) = self.redis.invoke::<i64>(&invocation).await {
            tracing::warn!(error = %err, "could not cache a cart");
        }
    }

    /// Sets the quantity of a SKU (adding the line with the given snapshot if new).
    pub async fn set_line(&self, customer: &str, line: &CartLine) -> Result<Cart, ApiError> {
        let mut tx = self.pool.begin().await?;
        let version = bump(&mut tx, customer).await?;
        let current = load_lines(&mut tx, customer).await?;
        let currency = line.unit_price.currency();
        if let Some(other) = current.iter().find(|l| l.currency != currency.as_str()) {
            return Err(ApiError::invalid_field(
                "sku",
                format!(
                    "this cart holds prices in {}; {} is priced in {currency} (check out or empty the cart first)",
                    other.currency, line.sku
                ),
            ));
        }
        let exists = current.iter().any(|l| l.sku == line.sku);
        if !exists && current.len() >= self.max_lines {
            return Err(ApiError::invalid_field(
                "sku",
                format!("a cart holds at most {} different products", self.max_lines),
            ));
        }
        sqlx::query(
            "insert into cart_lines (customer_id, sku, product_id, name, quantity, unit_amount, currency) \
             values ($1, $2, $3, $4, $5, $6, $7) \
             on conflict (customer_id, sku) do update set quantity = excluded.quantity, \
             product_id = excluded.product_id, name = excluded.name, \
             unit_amount = excluded.unit_amount, currency = excluded.currency",
        )
        .bind(customer)
        .bind(&line.sku)
        .bind(line.product_id)
        .bind(&line.name)
        .bind(line.quantity)
        .bind(line.unit_price.amount())
        .bind(currency.as_str())
        .execute(&mut *tx)
        .await?;
        let cart = assemble(load_lines(&mut tx, customer).await?, version)?;
        tx.commit().await?;
        self.cache(customer, &cart).await;
        Ok(cart)
    }

    /// Changes the quantity of a line already in the cart, keeping its price snapshot.
    pub async fn update_quantity(
        &self,
        customer: &str,
        sku: &str,
        quantity: i32,
    ) -> Result<Option<Cart>, ApiError> {
        let mut tx = self.pool.begin().await?;
        let version = bump(&mut tx, customer).await?;
        let updated =
            sqlx::query("update cart_lines set quantity = $3 where customer_id = $1 and sku = $2")
                .bind(customer)
                .bind(sku)
                .bind(quantity)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let cart = assemble(load_lines(&mut tx, customer).await?, version)?;
        tx.commit().await?;
        self.cache(customer, &cart).await;
        Ok(Some(cart))
    }

    /// Removes one line (`sku`) or every line (`None`).
    pub async fn remove(&self, customer: &str, sku: Option<&str>) -> Result<Cart, ApiError> {
        let mut tx = self.pool.begin().await?;
        let version = bump(&mut tx, customer).await?;
        sqlx::query(
            "delete from cart_lines where customer_id = $1 and ($2::text is null or sku = $2)",
        )
        .bind(customer)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
        let cart = assemble(load_lines(&mut tx, customer).await?, version)?;
        tx.commit().await?;
        self.cache(customer, &cart).await;
        Ok(cart)
    }
}

/// Locks the cart row (creating it) and returns its next version.
pub async fn bump(tx: &mut PgConnection, customer: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into carts (customer_id, version) values ($1, 1) \
         on conflict (customer_id) do update set version = carts.version + 1, updated_at = now() \
         returning version",
    )
    .bind(customer)
    .fetch_one(&mut *tx)
    .await
}

async fn load_lines(conn: &mut PgConnection, customer: &str) -> Result<Vec<LineRow>, sqlx::Error> {
    sqlx::query_as(
        "select sku, product_id, name, quantity, unit_amount, currency from cart_lines \
         where customer_id = $1 order by sku",
    )
    .bind(customer)
    .fetch_all(&mut *conn)
    .await
}

/// The cart as PostgreSQL has it (version and lines in one query).
pub async fn load(conn: &mut PgConnection, customer: &str) -> Result<Cart, ApiError> {
    type Row = (
        i64,
        Option<String>,
        Option<Uuid>,
        Option<String>,
        Option<i32>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select c.version, l.sku, l.product_id, l.name, l.quantity, l.unit_amount, l.currency \
         from carts c left join cart_lines l on l.customer_id = c.customer_id \
         where c.customer_id = $1 order by l.sku",
    )
    .bind(customer)
    .fetch_all(&mut *conn)
    .await?;
    let version = rows.first().map_or(0, |row| row.0);
    let lines = rows
        .into_iter()
        .filter_map(
            |(_, sku, product_id, name, quantity, unit_amount, currency)| {
                Some(LineRow {
                    sku: sku?,
                    product_id: product_id?,
                    name: name?,
                    quantity: quantity?,
                    unit_amount: unit_amount?,
                    currency: currency?,
                })
            },
        )
        .collect();
    assemble(lines, version)
}

/// Why a cart's total cannot be: beyond the largest amount, or (never stored) in two currencies.
fn total_refused(field: &str, err: &MoneyError) -> ApiError {
    ApiError::invalid_field(field, format!("the cart total {err}"))
}

/// `quantity` units at `unit_price`, refused (422) past the largest amount.
pub fn line_total(unit_price: Money, quantity: i32) -> Result<Money, ApiError> {
    u32::try_from(quantity)
        .map_err(|_| MoneyError::Negative)
        .and_then(|quantity| unit_price.checked_mul(quantity))
        .map_err(|err| total_refused("quantity", &err))
}

/// The sum of the lines (`None` for no line), refused (422) past the largest amount.
pub fn subtotal(lines: &[CartLine]) -> Result<Option<Money>, ApiError> {
    lines
        .iter()
        .try_fold(None, |sum: Option<Money>, line| match sum {
            None => Ok(Some(line.line_total)),
            Some(sum) => sum.checked_add(line.line_total).map(Some),
        })
        .map_err(|err| total_refused("cart", &err))
}

/// The cart from its stored lines, with line totals and subtotal.
fn assemble(rows: Vec<LineRow>, version: i64) -> Result<Cart, ApiError> {
    let lines = rows
        .into_iter()
        .map(|r| {
            let unit_price = service_kit::db::money(r.unit_amount, &r.currency)?;
            Ok(CartLine {
                line_total: line_total(unit_price, r.quantity)?,
                sku: r.sku,
                product_id: r.product_id,
                name: r.name,
                quantity: r.quantity,
                unit_price,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Cart {
        subtotal: subtotal(&lines)?,
        lines,
        version,
    })
}
