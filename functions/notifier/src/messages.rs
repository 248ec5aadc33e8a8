//! What the customer reads: subject, text and HTML per event type, in English or German
//! (the customer's locale; anything else falls back to English). Values from events are
//! HTML-escaped.

use events::payloads::{Amount, Contact};

/// One rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Email subject.
    pub subject: String,
    /// Plain-text body (also the SMS text, shortened).
    pub text: String,
    /// HTML body.
    pub html: String,
    /// SMS text.
    pub sms: String,
}

/// What happened, with the details a message needs.
#[derive(Debug, Clone)]
pub enum Notice {
    /// `order.confirmed`.
    Confirmed { order_id: String, total: Amount },
    /// `order.cancelled`.
    Cancelled { order_id: String, reason: String },
    /// `order.shipped`.
    Shipped {
        order_id: String,
        carrier: Option<String>,
        tracking: Option<String>,
    },
    /// `payment.refunded`.
    Refunded { order_id: String, amount: Amount },
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `12.34 EUR` from minor units (two decimals; currencies with other exponents keep the code).
pub fn money(amount: &Amount) -> String {
    let exponent = match amount.currency.as_str() {
        "JPY" | "KRW" | "CLP" | "ISK" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    };
    if exponent == 0 {
        return format!("{} {}", amount.amount, amount.currency);
    }
    let scale = 10_i64.pow(exponent);
    format!(
        "{}.{:0width$} {}",
        amount.amount / scale,
        (amount.amount % scale).abs(),
        amount.currency,
        width = exponent as usize
    )
}

fn german(locale: &str) -> bool {
    locale == "de" || locale.starts_with("de-")
}

fn reason_text(reason: &str, de: bool) -> &'static str {
    match (reason, de) {
        ("out_of_stock", false) => "an item is out of stock",
        ("out_of_stock", true) => "ein Artikel ist nicht vorrätig",
        ("payment_declined" | "payment_failed", false) => "the payment was declined",
        ("payment_declined" | "payment_failed", true) => "die Zahlung wurde abgelehnt",
        ("cancelled_by_customer", false) => "you cancelled it",
        ("cancelled_by_customer", true) => "Sie haben sie storniert",
        (_, false) => "we could not complete it",
        (_, true) => "wir konnten sie nicht abschließen",
    }
}

/// Renders `notice` for `contact`.
pub fn render(notice: &Notice, contact: &Contact) -> Rendered {
    let de = german(&contact.locale);
    let name = &contact.name;
    let (subject, line) = match (notice, de) {
        (Notice::Confirmed { order_id, total }, false) => (
            format!("Your order {order_id} is confirmed"),
            format!(
                "we received your payment of {} and are preparing your order {order_id}.",
                money(total)
            ),
        ),
        (Notice::Confirmed { order_id, total }, true) => (
            format!("Ihre Bestellung {order_id} ist bestätigt"),
            format!(
                "wir haben Ihre Zahlung über {} erhalten und bereiten Ihre Bestellung {order_id} vor.",
                money(total)
            ),
        ),
        (Notice::Cancelled { order_id, reason }, false) => (
            format!("Your order {order_id} was cancelled"),
            format!(
                "your order {order_id} was cancelled because {}. You have not been charged.",
                reason_text(reason, false)
            ),
        ),
        (Notice::Cancelled { order_id, reason }, true) => (
            format!("Ihre Bestellung {order_id} wurde storniert"),
            format!(
                "Ihre Bestellung {order_id} wurde storniert, weil {}. Es wurde nichts abgebucht.",
                reason_text(reason, true)
            ),
        ),
        (
            Notice::Shipped {
                order_id,
                carrier,
                tracking,
            },
            false,
        ) => (
            format!("Your order {order_id} is on its way"),
            format!(
                "your order {order_id} has shipped{}.",
                match (carrier, tracking) {
                    (Some(c), Some(t)) => format!(" with {c}, tracking number {t}"),
                    (Some(c), None) => format!(" with {c}"),
                    (None, Some(t)) => format!(", tracking number {t}"),
                    (None, None) => String::new(),
                }
            ),
        ),
        (
            Notice::Shipped {
                order_id,
                carrier,
                tracking,
            },
            true,
        ) => (
            format!("Ihre Bestellung {order_id} ist unterwegs"),
            format!(
                "Ihre Bestellung {order_id} wurde versandt{}.",
                match (carrier, tracking) {
                    (Some(c), Some(t)) => format!(" mit {c}, Sendungsnummer {t}"),
                    (Some(c), None) => format!(" mit {c}"),
                    (None, Some(t)) => format!(", Sendungsnummer {t}"),
                    (None, None) => String::new(),
                }
            ),
        ),
        (Notice::Refunded { order_id, amount }, false) => (
            format!("Refund for order {order_id}"),
            format!("we refunded {} for your order {order_id}.", money(amount)),
        ),
        (Notice::Refunded { order_id, amount }, true) => (
            format!("Erstattung zu Bestellung {order_id}"),
            format!(
                "wir haben {} zu Ihrer Bestellung {order_id} erstattet.",
                money(amount)
            ),
        ),
    };
    let greeting = if de {
        format!("Hallo {name},")
    } else {
        format!("Hello {name},")
    };
    let sign = if de {
        "Ihr Retail-Platform-Team"
    } else {
        "The retail-platform team"
    };
    let text = format!("{greeting}\n\n{line}\n\n{sign}\n");
    let html = format!(
        "<!doctype html><html lang=\"{}\"><body><p>{}</p><p>{}</p><p>{}</p></body></html>",
        if de { "de" } else { "en" },
        escape(&greeting),
        escape(&line),
        escape(sign)
    );
    let sms: String = format!("{subject}.").chars().take(160).collect();
    Rendered {
        subject,
        text,
        html,
        sms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(locale: &str, name: &str) -> Contact {
        Contact {
            email: "a@example.com".into(),
            phone: None,
            name: name.into(),
            locale: locale.into(),
            notify_email: true,
            notify_sms: false,
        }
    }

    #[test]
    fn messages_follow_the_locale_and_escape_html() {
        let notice = Notice::Confirmed {
            order_id: "o-1".into(),
            total: Amount {
                amount: 123_456,
                currency: "EUR".into(),
            },
        };
        let en = render(&notice, &contact("en", "Ann <b>"));
        assert_eq!(en.subject, "Your order o-1 is confirmed");
        assert!(en.text.contains("1234.56 EUR"));
        assert!(en.html.contains("Ann &lt;b&gt;"));
        let de = render(&notice, &contact("de-DE", "Jörg"));
        assert!(de.subject.starts_with("Ihre Bestellung"));
        let fallback = render(&notice, &contact("fr", "Zoé"));
        assert!(fallback.subject.starts_with("Your order"));
        assert_eq!(
            money(&Amount {
                amount: 500,
                currency: "JPY".into()
            }),
            "500 JPY"
        );
        assert_eq!(
            money(&Amount {
                amount: 5,
                currency: "EUR".into()
            }),
            "0.05 EUR"
        );
    }
}
