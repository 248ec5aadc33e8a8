//! Payments and their ledger in PostgreSQL. Amounts are stored as two columns (`bigint` minor
//! units, `text` ISO 4217 code) and read back as [`Money`] through [`service_kit::db::money`]:
//! a row holding no valid amount is an error, never a panic.

use crate::domain::PaymentStatus;
use events::payloads::Contact;
use serde::Serialize;
use service_kit::money::{Money, MoneyError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A payment row.
#[derive(Debug, Clone)]
pub struct Payment {
    /// Payment id.
    pub id: Uuid,
    /// Order id.
    pub order_id: String,
    /// Customer (user id).
    pub customer_id: String,
    /// Amount to charge (columns `amount` and `currency`).
    pub amount: Money,
    /// Where the payment is.
    pub status: PaymentStatus,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// The provider's authorization id.
    pub psp_reference: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Payment-method token.
    pub payment_method: Option<String>,
    /// Contact snapshot from the order.
    pub contact: Option<sqlx::types::Json<Contact>>,
    /// When the provider was first asked to authorize.
    pub authorize_requested_at: Option<OffsetDateTime>,
}

impl<'r> sqlx::FromRow<'r, PgRow> for Payment {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            customer_id: row.try_get("customer_id")?,
            amount: service_kit::db::money(row.try_get("amount")?, row.try_get("currency")?)?,
            status: row.try_get("status")?,
            failure_reason: row.try_get("failure_reason")?,
            psp_reference: row.try_get("psp_reference")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            payment_method: row.try_get("payment_method")?,
            contact: row.try_get("contact")?,
            authorize_requested_at: row.try_get("authorize_requested_at")?,
        })
    }
}

/// One ledger entry.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// Entry id.
    pub id: i64,
    /// `authorization`, `capture`, `void` or `refund`.
    pub kind: String,
    /// Positive (columns `amount` and `currency`).
    pub amount: Money,
    /// Provider reference.
    pub psp_reference: Option<String>,
    /// The refund, for refund entries.
    pub refund_id: Option<Uuid>,
    /// When.
    pub created_at: OffsetDateTime,
}

impl<'r> sqlx::FromRow<'r, PgRow> for LedgerEntry {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            amount: service_kit::db::money(row.try_get("amount")?, row.try_get("currency")?)?,
            psp_reference: row.try_get("psp_reference")?,
            refund_id: row.try_get("refund_id")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// The ledger summed by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balance {
    /// Held on the payment method.
    pub authorized: i64,
    /// Taken.
    pub captured: i64,
    /// Released without taking.
    pub voided: i64,
    /// Given back.
    pub refunded: i64,
    /// `captured - refunded`: what the shop keeps.
    pub net: i64,
    /// Whether the entries add up: every authorized unit is captured, voided or still held,
    /// and no more is refunded than captured.
    pub reconciles: bool,
}

const COLUMNS: &str = "id, order_id, customer_id, amount, currency, status, failure_reason, psp_reference, \
     created_at, updated_at, payment_method, contact, authorize_requested_at";

/// Locks the payment of an order.
pub async fn lock_by_order(
    tx: &mut PgConnection,
    order_id: &str,
) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where order_id = $1 for update"
    )))
    .bind(order_id)
    .fetch_optional(&mut *tx)
    .await
}

/// The payments created in `[from, to)`, oldest first.
pub async fn created_between(
    pool: &PgPool,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where created_at >= $1 and created_at < $2 order by created_at"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The payment with this id, unlocked.
pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Locks the payment with this id.
pub async fn lock_by_id(tx: &mut PgConnection, id: Uuid) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}

/// The payment with this provider reference, unlocked (to decide what to ask the provider
/// before a transaction locks it).
pub async fn by_reference(pool: &PgPool, reference: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where psp_reference = $1"
    )))
    .bind(reference)
    .fetch_optional(pool)
    .await
}

/// The payment of an order, after recording the intent to authorize it when it waits for
/// one (`created` or already `authorizing`, with a payment method): the intent is committed on
/// its own, before the provider is asked, so a crash after the call is recognised and the call
/// repeated with the same key. One statement; the flag says whether the intent was recorded.
pub async fn mark_authorizing(
    pool: &PgPool,
    order_id: &str,
) -> Result<Option<(Payment, bool)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Marked {
        #[sqlx(flatten)]
        payment: Payment,
        marked: bool,
    }
    let row: Option<Marked> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with marked as ( \
           update payments set status = 'authorizing', \
             authorize_requested_at = coalesce(authorize_requested_at, now()), updated_at = now() \
           where order_id = $1 and status in ('created', 'authorizing') \
             and payment_method is not null \
           returning {COLUMNS}) \
         select {COLUMNS}, true as marked from marked \
         union all \
         select {COLUMNS}, false as marked from payments \
         where order_id = $1 and not exists (select 1 from marked)"
    )))
    .bind(order_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.payment, r.marked)))
}

/// The payment of an order.
pub async fn by_order(pool: &PgPool, order_id: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where order_id = $1"
    )))
    .bind(order_id)
    .fetch_optional(pool)
    .await
}

/// Payments, newest first, optionally in one state, before a cursor id.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Payment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from payments where ($1::text is null or status = $1) \
         and ($2::uuid is null or id < $2) order by id desc limit $3"
    )))
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Money moved in a window, for one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct MoneyMoved {
    /// ISO 4217.
    pub currency: String,
    /// Captured in the window, in minor units.
    pub captured: i64,
    /// Refunded in the window.
    pub refunded: i64,
    /// `captured - refunded`.
    pub net: i64,
    /// Captures in the window.
    pub captures: i64,
    /// Refunds in the window.
    pub refunds: i64,
}

/// Captures and refunds booked in `[from, to)`, per currency (by when the money moved, not
/// when the order was placed).
pub async fn money_moved(
    pool: &PgPool,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> Result<Vec<MoneyMoved>, sqlx::Error> {
    sqlx::query_as(
        "select currency, \
           coalesce(sum(amount) filter (where kind = 'capture'), 0)::bigint as captured, \
           coalesce(sum(amount) filter (where kind = 'refund'), 0)::bigint as refunded, \
           (coalesce(sum(amount) filter (where kind = 'capture'), 0) \
             - coalesce(sum(amount) filter (where kind = 'refund'), 0))::bigint as net, \
           count(*) filter (where kind = 'capture') as captures, \
           count(*) filter (where kind = 'refund') as refunds \
         from ledger_entries \
         where created_at >= $1 and created_at < $2 and kind in ('capture', 'refund') \
         group by currency order by currency",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Creates the payment of a new order (once).
pub async fn create(
    tx: &mut PgConnection,
    order_id: &str,
    customer_id: &str,
    amount: Money,
    payment_method: Option<&str>,
    contact: &Contact,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into payments (id, order_id, customer_id, amount, currency, payment_method, status, contact) \
         values ($1, $2, $3, $4, $5, $6, 'created', $7) on conflict (order_id) do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(order_id)
    .bind(customer_id)
    .bind(amount.amount())
    .bind(amount.currency().as_str())
    .bind(payment_method)
    .bind(sqlx::types::Json(contact))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves a payment to `status`.
pub async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    status: PaymentStatus,
    failure_reason: Option<&str>,
    psp_reference: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update payments set status = $2, failure_reason = coalesce($3, failure_reason), \
         psp_reference = coalesce($4, psp_reference), updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(failure_reason)
    .bind(psp_reference)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Settles a payment cancelled while its authorization was with the provider: the hold it made
/// (`reference`), if any, was released, so the ledger shows the authorization and its void and
/// the payment is `voided`; with none, it stays `cancelled`. Either way nothing is left to
/// release.
pub async fn released_after_cancel(
    tx: &mut PgConnection,
    payment: &Payment,
    reference: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update payments set authorize_requested_at = null, updated_at = now() where id = $1",
    )
    .bind(payment.id)
    .execute(&mut *tx)
    .await?;
    if let Some(reference) = reference {
        set_status(tx, payment.id, PaymentStatus::Voided, None, Some(reference)).await?;
        let mut held = payment.clone();
        held.psp_reference = Some(reference.to_owned());
        post(tx, &held, "authorization", payment.amount, None).await?;
        post(tx, &held, "void", payment.amount, None).await?;
    }
    Ok(())
}

/// Appends a ledger entry of `amount` (in the payment's currency: the callers derive it from
/// the payment).
pub async fn post(
    tx: &mut PgConnection,
    payment: &Payment,
    kind: &str,
    amount: Money,
    refund_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ledger_entries (payment_id, kind, amount, currency, psp_reference, refund_id) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(payment.id)
    .bind(kind)
    .bind(amount.amount())
    .bind(amount.currency().as_str())
    .bind(&payment.psp_reference)
    .bind(refund_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The entries of a payment, oldest first.
pub async fn entries(
    conn: &mut PgConnection,
    payment_id: Uuid,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "select id, kind, amount, currency, psp_reference, refund_id, created_at from ledger_entries \
         where payment_id = $1 order by id",
    )
    .bind(payment_id)
    .fetch_all(&mut *conn)
    .await
}

/// The balance of each of `ids` (one query; a payment with no entry has the empty balance).
pub async fn balances(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Balance>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "select payment_id, kind, sum(amount)::bigint from ledger_entries \
         where payment_id = any($1) group by payment_id, kind",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut sums: std::collections::HashMap<Uuid, [i64; 4]> = std::collections::HashMap::new();
    for (id, kind, amount) in rows {
        if let Some(slot) = KINDS.iter().position(|k| *k == kind) {
            sums.entry(id).or_default()[slot] = amount;
        }
    }
    Ok(ids
        .iter()
        .map(|id| (*id, Balance::of(sums.get(id).copied().unwrap_or_default())))
        .collect())
}

/// The kinds of ledger entry, in the order [`Balance::of`] takes their sums.
const KINDS: [&str; 4] = ["authorization", "capture", "void", "refund"];

impl Balance {
    /// The balance of the sums of each kind of [`KINDS`] (authorized, captured, voided,
    /// refunded), in minor units. Sums from PostgreSQL are not bounded like [`Money`], so the
    /// arithmetic saturates rather than overflow: such a ledger does not reconcile.
    fn of([authorized, captured, voided, refunded]: [i64; 4]) -> Self {
        Self {
            authorized,
            captured,
            voided,
            refunded,
            net: captured.saturating_sub(refunded),
            reconciles: captured
                .checked_add(voided)
                .is_some_and(|settled| settled <= authorized)
                && refunded <= captured,
        }
    }
}

/// Sums entries by kind and checks they reconcile. The sums are overflow-checked [`Money`]: a
/// ledger whose sum of one kind leaves its range, or mixes currencies, is refused.
pub fn balance(entries: &[LedgerEntry]) -> Result<Balance, MoneyError> {
    let mut sums = [0; 4];
    for (slot, kind) in KINDS.iter().enumerate() {
        let mut amounts = entries.iter().filter(|e| e.kind == *kind).map(|e| e.amount);
        if let Some(first) = amounts.next() {
            sums[slot] = amounts.try_fold(first, Money::checked_add)?.amount();
        }
    }
    Ok(Balance::of(sums))
}
