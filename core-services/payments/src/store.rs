//! Payments and their ledger in PostgreSQL.

use crate::domain::PaymentStatus;
use events::payloads::Contact;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A payment row.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Payment {
    /// Payment id.
    pub id: Uuid,
    /// Order id.
    pub order_id: String,
    /// Customer (user id).
    pub customer_id: String,
    /// Amount to charge, minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Where the payment is.
    pub status: PaymentStatus,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// The provider's authorization id.
    pub psp_reference: Option<String>,
    /// Created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last change (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Payment-method token (not shown).
    #[serde(skip)]
    pub payment_method: Option<String>,
    /// Contact snapshot from the order (not shown).
    #[serde(skip)]
    pub contact: Option<sqlx::types::Json<Contact>>,
    /// When the provider was first asked to authorize (not shown).
    #[serde(skip)]
    pub authorize_requested_at: Option<OffsetDateTime>,
}

/// One ledger entry.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct LedgerEntry {
    /// Entry id.
    pub id: i64,
    /// `authorization`, `capture`, `void` or `refund`.
    pub kind: String,
    /// Positive minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Provider reference.
    pub psp_reference: Option<String>,
    /// The refund, for refund entries.
    pub refund_id: Option<Uuid>,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
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
    amount: i64,
    currency: &str,
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
    .bind(amount)
    .bind(currency)
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

/// Appends a ledger entry.
pub async fn post(
    tx: &mut PgConnection,
    payment: &Payment,
    kind: &str,
    amount: i64,
    refund_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ledger_entries (payment_id, kind, amount, currency, psp_reference, refund_id) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(payment.id)
    .bind(kind)
    .bind(amount)
    .bind(&payment.currency)
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
    let mut sums: std::collections::HashMap<Uuid, Vec<LedgerEntry>> =
        std::collections::HashMap::new();
    for (id, kind, amount) in rows {
        sums.entry(id).or_default().push(LedgerEntry {
            id: 0,
            kind,
            amount,
            currency: String::new(),
            psp_reference: None,
            refund_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        });
    }
    Ok(ids
        .iter()
        .map(|id| (*id, balance(sums.get(id).map_or(&[][..], Vec::as_slice))))
        .collect())
}

/// Sums entries by kind and checks they reconcile.
pub fn balance(entries: &[LedgerEntry]) -> Balance {
    let sum = |kind: &str| {
        entries
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount)
            .sum::<i64>()
    };
    let authorized = sum("authorization");
    let captured = sum("capture");
    let voided = sum("void");
    let refunded = sum("refund");
    Balance {
        authorized,
        captured,
        voided,
        refunded,
        net: captured - refunded,
        reconciles: captured + voided <= authorized && refunded <= captured,
    }
}
