//! What the customer reads: subject, text and HTML per event type, in English or German
//! (the customer's locale; anything else falls back to English). Values from events are
//! HTML-escaped. Account emails carry a link (confirm the address, set a new password, or
//! start a reset when a change was not the owner's).

use events::Money;
use events::payloads::Contact;

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
    Confirmed { order_id: String, total: Money },
    /// `order.cancelled`.
    Cancelled { order_id: String, reason: String },
    /// `order.shipped`.
    Shipped {
        order_id: String,
        carrier: Option<String>,
        tracking: Option<String>,
    },
    /// `payment.refunded`.
    Refunded { order_id: String, amount: Money },
    /// `user.registered`: confirm the address.
    VerifyEmail { link: String, until: String },
    /// `user.registration_attempted`: someone tried to register the owner's address.
    RegistrationAttempted { reset_link: String },
    /// `user.password_reset_requested`: set a new password.
    ResetPassword { link: String, until: String },
    /// `user.password_changed`: every session ended; a reset link in case it was not them.
    PasswordChanged { reset_link: String },
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
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
    let mut link = None;
    let (subject, line) = match (notice, de) {
        (Notice::Confirmed { order_id, total }, false) => (
            format!("Your order {order_id} is confirmed"),
            format!("we received your payment of {total} and are preparing your order {order_id}."),
        ),
        (Notice::Confirmed { order_id, total }, true) => (
            format!("Ihre Bestellung {order_id} ist bestätigt"),
            format!(
                "wir haben Ihre Zahlung über {total} erhalten und bereiten Ihre Bestellung {order_id} vor."
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
            format!("we refunded {amount} for your order {order_id}."),
        ),
        (Notice::Refunded { order_id, amount }, true) => (
            format!("Erstattung zu Bestellung {order_id}"),
            format!("wir haben {amount} zu Ihrer Bestellung {order_id} erstattet."),
        ),
        (Notice::VerifyEmail { link: to, until }, _) => {
            link = Some(to.clone());
            if de {
                (
                    "Bitte bestätigen Sie Ihre E-Mail-Adresse".to_owned(),
                    format!(
                        "bitte bestätigen Sie Ihre Adresse mit diesem Link (gültig bis {until}):"
                    ),
                )
            } else {
                (
                    "Please confirm your email address".to_owned(),
                    format!("please confirm your address with this link (valid until {until}):"),
                )
            }
        }
        (Notice::RegistrationAttempted { reset_link }, _) => {
            link = Some(reset_link.clone());
            if de {
                (
                    "Jemand wollte ein Konto mit Ihrer Adresse anlegen".to_owned(),
                    "jemand wollte mit Ihrer E-Mail-Adresse ein neues Konto anlegen. Sie haben bereits eines; es bleibt unverändert. Wenn Sie Ihr Passwort vergessen haben, setzen Sie hier ein neues:".to_owned(),
                )
            } else {
                (
                    "Someone tried to register with your address".to_owned(),
                    "someone tried to create a new account with your email address. You already have one, and it is unchanged. If you forgot your password, set a new one here:".to_owned(),
                )
            }
        }
        (Notice::ResetPassword { link: to, until }, _) => {
            link = Some(to.clone());
            if de {
                (
                    "Neues Passwort festlegen".to_owned(),
                    format!(
                        "mit diesem Link legen Sie ein neues Passwort fest (einmal verwendbar, gültig bis {until}). Wenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail:"
                    ),
                )
            } else {
                (
                    "Set a new password".to_owned(),
                    format!(
                        "use this link to set a new password (it works once, until {until}). If you did not ask for it, ignore this email:"
                    ),
                )
            }
        }
        (Notice::PasswordChanged { reset_link }, _) => {
            link = Some(reset_link.clone());
            if de {
                (
                    "Ihr Passwort wurde geändert".to_owned(),
                    "Ihr Passwort wurde geändert, und alle Anmeldungen wurden beendet. Wenn Sie das nicht waren, setzen Sie sofort ein neues Passwort:".to_owned(),
                )
            } else {
                (
                    "Your password was changed".to_owned(),
                    "your password was changed and every session was signed out. If this was not you, set a new password now:".to_owned(),
                )
            }
        }
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
    let (text, html_link) = match &link {
        Some(link) => (
            format!("{greeting}\n\n{line}\n{link}\n\n{sign}\n"),
            format!("<p><a href=\"{0}\">{0}</a></p>", escape(link)),
        ),
        None => (format!("{greeting}\n\n{line}\n\n{sign}\n"), String::new()),
    };
    let html = format!(
        "<!doctype html><html lang=\"{}\"><body><p>{}</p><p>{}</p>{html_link}<p>{}</p></body></html>",
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
    fn account_emails_carry_their_link_in_text_and_html() {
        let notice = Notice::ResetPassword {
            link: "https://shop.example/account/reset-password?token=abc&x=\"".into(),
            until: "2026-12-07 10:30 UTC".into(),
        };
        let en = render(&notice, &contact("en", "Ann"));
        assert_eq!(en.subject, "Set a new password");
        assert!(en.text.contains("until 2026-12-07 10:30 UTC"));
        assert!(
            en.text
                .contains("https://shop.example/account/reset-password?token=abc&x=\"")
        );
        assert!(en.html.contains(
            "<a href=\"https://shop.example/account/reset-password?token=abc&amp;x=&quot;\">"
        ));
        let de = render(
            &Notice::PasswordChanged {
                reset_link: "https://shop.example/account/forgot-password".into(),
            },
            &contact("de", "Jörg"),
        );
        assert_eq!(de.subject, "Ihr Passwort wurde geändert");
        assert!(de.text.contains("/account/forgot-password"));
    }

    #[test]
    fn messages_follow_the_locale_and_escape_html() {
        let notice = Notice::Confirmed {
            order_id: "o-1".into(),
            total: Money::parse(123_456, "EUR").unwrap(),
        };
        let en = render(&notice, &contact("en", "Ann <b>"));
        assert_eq!(en.subject, "Your order o-1 is confirmed");
        assert!(en.text.contains("1234.56 EUR"));
        assert!(en.html.contains("Ann &lt;b&gt;"));
        let de = render(&notice, &contact("de-DE", "Jörg"));
        assert!(de.subject.starts_with("Ihre Bestellung"));
        let fallback = render(&notice, &contact("fr", "Zoé"));
        assert!(fallback.subject.starts_with("Your order"));
    }
}
