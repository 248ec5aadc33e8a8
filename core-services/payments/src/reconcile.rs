//! Reconciliation: our payments and their ledger against the provider's PaymentIntents for a
//! window (`GET /admin/payments/reconciliation`). Every PaymentIntent created in the window is
//! matched to our payment by the `metadata[payment_id]` the adapter sent; every payment of ours
//! created in the window with a provider reference and no match is looked up by that reference.
//! What disagrees is reported, one line per difference:
//!
//! - `unknown_to_ledger`: a PaymentIntent no payment of ours made;
//! - `missing_at_provider`: our reference names no PaymentIntent;
//! - `status`: the two states cannot both be true (captured here, `requires_capture` there);
//! - `amount`, `captured`, `refunded`, `held`: the sums differ.
//!
//! A payment whose authorization is in flight (`authorizing`) is skipped: its outcome is not
//! recorded yet.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use service_kit::ApiError;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::PaymentStatus;
use crate::provider::{Provider, ProviderPayment};
use crate::store::{self, Balance, Payment};

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Difference {
    /// `unknown_to_ledger`, `missing_at_provider`, `status`, `amount`, `captured`, `refunded`
    /// or `held`.
    pub kind: String,
    /// Our payment, when there is one.
    pub payment_id: Option<Uuid>,
    /// Its order.
    pub order_id: Option<String>,
    /// The provider's PaymentIntent, when there is one.
    pub intent_id: Option<String>,
    /// What our records say.
    pub ours: String,
    /// What the provider says.
    pub provider: String,
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    /// Window start (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub from: OffsetDateTime,
    /// Window end, exclusive (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub to: OffsetDateTime,
    /// Our payments compared.
    pub payments_checked: usize,
    /// The provider's PaymentIntents compared.
    pub intents_checked: usize,
    /// Everything that disagrees; empty when the two agree.
    pub differences: Vec<Difference>,
}

/// The provider states that agree with each of ours.
fn agreeing(status: PaymentStatus) -> &'static [&'static str] {
    match status {
        PaymentStatus::Pending => &["requires_action", "processing"],
        PaymentStatus::Authorized => &["requires_capture"],
        PaymentStatus::Captured => &["succeeded"],
        PaymentStatus::Voided => &["canceled"],
        PaymentStatus::Failed | PaymentStatus::Cancelled => {
            &["requires_payment_method", "canceled"]
        }
        PaymentStatus::Created | PaymentStatus::Authorizing => &[],
    }
}

fn difference(
    kind: &str,
    payment: Option<&Payment>,
    intent: Option<&ProviderPayment>,
    ours: String,
    theirs: String,
) -> Difference {
    Difference {
        kind: kind.to_owned(),
        payment_id: payment.map(|p| p.id),
        order_id: payment.map(|p| p.order_id.clone()),
        intent_id: intent.map(|i| i.id.clone()),
        ours,
        provider: theirs,
    }
}

fn compare(
    payment: &Payment,
    balance: &Balance,
    intent: &ProviderPayment,
    out: &mut Vec<Difference>,
) {
    let status = payment.status;
    if !agreeing(status).contains(&intent.status.as_str()) {
        out.push(difference(
            "status",
            Some(payment),
            Some(intent),
            status.as_str().to_owned(),
            intent.status.clone(),
        ));
        return;
    }
    let ours = payment.amount;
    if intent.amount != ours.amount() || intent.currency != ours.currency().as_str() {
        out.push(difference(
            "amount",
            Some(payment),
            Some(intent),
            format!("{} {}", ours.amount(), ours.currency()),
            format!("{} {}", intent.amount, intent.currency),
        ));
    }
    if balance.captured != intent.amount_received {
        out.push(difference(
            "captured",
            Some(payment),
            Some(intent),
            balance.captured.to_string(),
            intent.amount_received.to_string(),
        ));
    }
    if balance.refunded != intent.amount_refunded {
        out.push(difference(
            "refunded",
            Some(payment),
            Some(intent),
            balance.refunded.to_string(),
            intent.amount_refunded.to_string(),
        ));
    }
    let held = if status == PaymentStatus::Authorized {
        ours.amount()
    } else {
        0
    };
    if held != intent.amount_capturable {
        out.push(difference(
            "held",
            Some(payment),
            Some(intent),
            held.to_string(),
            intent.amount_capturable.to_string(),
        ));
    }
}

fn unavailable(err: &crate::provider::ProviderError) -> ApiError {
    ApiError::Unavailable(format!("could not read the provider's payments: {err}"))
}

/// Compares the window `[from, to)`.
pub async fn reconcile(
    pool: &PgPool,
    provider: &Provider,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Report, ApiError> {
    let intents = provider
        .payments(from.unix_timestamp(), to.unix_timestamp())
        .await
        .map_err(|e| unavailable(&e))?;
    let ours = store::created_between(pool, from, to).await?;
    let by_id: HashMap<Uuid, &Payment> = ours.iter().map(|p| (p.id, p)).collect();
    // Each PaymentIntent paired with our payment (made just before the window, when not in it).
    let mut pairs: Vec<(Payment, ProviderPayment)> = Vec::new();
    let mut differences = Vec::new();
    for intent in &intents {
        let id = intent
            .payment_id
            .as_deref()
            .and_then(|p| Uuid::parse_str(p).ok());
        let found = match id {
            Some(id) => match by_id.get(&id) {
                Some(payment) => Some((*payment).clone()),
                None => store::by_id(pool, id).await?,
            },
            None => None,
        };
        match found {
            Some(payment) => pairs.push((payment, intent.clone())),
            None => differences.push(difference(
                "unknown_to_ledger",
                None,
                Some(intent),
                "no payment".into(),
                format!("{} {} {}", intent.status, intent.amount, intent.currency),
            )),
        }
    }
    let matched: HashSet<Uuid> = pairs.iter().map(|(p, _)| p.id).collect();
    // Ours with a reference and no PaymentIntent in the window: looked up one by one.
    for payment in ours.iter().filter(|p| !matched.contains(&p.id)) {
        let Some(reference) = payment.psp_reference.as_deref() else {
            continue;
        };
        match provider
            .payment(reference)
            .await
            .map_err(|e| unavailable(&e))?
        {
            None => differences.push(difference(
                "missing_at_provider",
                Some(payment),
                None,
                format!("{} with reference {reference}", payment.status),
                "no such PaymentIntent".into(),
            )),
            Some(intent) => pairs.push((payment.clone(), intent)),
        }
    }
    let ids: Vec<Uuid> = pairs.iter().map(|(p, _)| p.id).collect();
    let balances = store::balances(pool, &ids).await?;
    for (payment, intent) in &pairs {
        // An authorization in flight: its outcome is not recorded yet.
        if payment.status == PaymentStatus::Authorizing {
            continue;
        }
        let balance = balances.get(&payment.id).cloned().unwrap_or_default();
        compare(payment, &balance, intent, &mut differences);
    }
    if !differences.is_empty() {
        tracing::warn!(
            count = differences.len(),
            "reconciliation found differences with the provider"
        );
    }
    Ok(Report {
        from,
        to,
        payments_checked: ours.len(),
        intents_checked: intents.len(),
        differences,
    })
}
