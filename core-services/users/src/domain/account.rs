//! Registration, profile and preference input, validated into types that cannot be invalid.

use serde::{Deserialize, Serialize};
use service_kit::FieldError;
use utoipa::ToSchema;

/// Shortest accepted password (OWASP ASVS 2.1.1 asks for at least 8; we ask for 10).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted password (long enough for passphrases, short enough to bound hashing work).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A normalized (trimmed, lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks the shape `local@domain.tld`, at most 254 characters.
    pub fn parse(input: &str) -> Result<Self, String> {
        let email = input.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(email))
        } else {
            Err("must be an email address".into())
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An E.164 phone number (`+4915112345678`).
pub fn parse_phone(input: &str) -> Result<String, String> {
    let phone: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = phone.strip_prefix('+').unwrap_or_default();
    let valid = (2..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(phone)
    } else {
        Err("must be an E.164 number such as +4915112345678".into())
    }
}

fn parse_name(input: &str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        Err("must be 1 to 100 characters".into())
    } else {
        Ok(name.to_owned())
    }
}

fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) || password.trim().is_empty() {
        Err(format!(
            "must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        ))
    } else {
        Ok(())
    }
}

/// A registration request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterInput {
    /// Email address (login name).
    #[schema(
        max_length = 254,
        pattern = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[!-?A-~]{1,64}@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    pub email: String,
    /// Password, 10 to 128 characters, not only white space.
    #[schema(
        min_length = 10,
        max_length = 128,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub password: String,
    /// Display name, 1 to 100 characters.
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// Mobile number in E.164 (spaces, `-` and parentheses are ignored), for SMS
    /// notifications; blank for none.
    #[serde(default)]
    #[schema(
        pattern = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$|^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[ ()-]*\\+[ ()-]*[1-9]([ ()-]*[0-9]){1,14}[ ()-]*[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    pub phone: Option<String>,
}

/// A registration that passed every rule.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Normalized email.
    pub email: Email,
    /// The password (hashed before it is stored).
    pub password: String,
    /// Trimmed name.
    pub name: String,
    /// Normalized phone.
    pub phone: Option<String>,
}

impl RegisterInput {
    /// Applies every rule, reporting all failures by field.
    pub fn validate(self) -> Result<Registration, Vec<FieldError>> {
        let mut errors = Vec::new();
        let email = Email::parse(&self.email)
            .map_err(|m| errors.push(FieldError::new("email", m)))
            .ok();
        if let Err(m) = check_password(&self.password) {
            errors.push(FieldError::new("password", m));
        }
        let name = parse_name(&self.name)
            .map_err(|m| errors.push(FieldError::new("name", m)))
            .ok();
        let phone = match self
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => parse_phone(p)
                .map_err(|m| errors.push(FieldError::new("phone", m)))
                .ok(),
            None => None,
        };
        match (email, name) {
            (Some(email), Some(name)) if errors.is_empty() => Ok(Registration {
                email,
                password: self.password,
                name,
                phone,
            }),
            _ => Err(errors),
        }
    }
}

/// A login request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A refresh or logout request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshInput {
    /// The refresh token from the last token response.
    pub refresh_token: String,
}

/// A profile change (`PATCH /me`); absent fields stay, `phone: null` removes the number.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// New display name, 1 to 100 characters.
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: Option<String>,
    /// New phone number (E.164; spaces, `-` and parentheses are ignored); `null` or blank
    /// removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$|^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[ ()-]*\\+[ ()-]*[1-9]([ ()-]*[0-9]){1,14}[ ()-]*[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$")]
    pub phone: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A validated profile change.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// New name.
    pub name: Option<String>,
    /// New phone (`Some(None)` removes it).
    pub phone: Option<Option<String>>,
}

impl ProfilePatch {
    /// Applies the rules to the fields present.
    pub fn validate(self) -> Result<ProfileChange, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.and_then(|n| {
            parse_name(&n)
                .map_err(|m| errors.push(FieldError::new("name", m)))
                .ok()
        });
        let phone = match self.phone {
            Some(Some(p)) if !p.trim().is_empty() => parse_phone(p.trim())
                .map_err(|m| errors.push(FieldError::new("phone", m)))
                .ok()
                .map(Some),
            Some(_) => Some(None),
            None => None,
        };
        if errors.is_empty() {
            Ok(ProfileChange { name, phone })
        } else {
            Err(errors)
        }
    }
}

/// Notification and locale preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Order updates by email.
    pub email_notifications: bool,
    /// Order updates by SMS (needs a phone number).
    pub sms_notifications: bool,
    /// Marketing messages.
    pub marketing_opt_in: bool,
    /// Language for messages, e.g. `en` or `de-DE`.
    #[schema(pattern = "^[a-z]{2}(-[A-Z]{2})?$")]
    pub locale: String,
}

/// How to reach an account holder: the profile's contact fields and the preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Contact {
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Phone in E.164.
    pub phone: Option<String>,
    /// Notification preferences.
    pub preferences: Preferences,
}

impl Preferences {
    /// Checks the locale tag.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let locale_ok = match self.locale.split_once('-') {
            None => self.locale.len() == 2 && self.locale.chars().all(|c| c.is_ascii_lowercase()),
            Some((lang, region)) => {
                lang.len() == 2
                    && lang.chars().all(|c| c.is_ascii_lowercase())
                    && region.len() == 2
                    && region.chars().all(|c| c.is_ascii_uppercase())
            }
        };
        if locale_ok {
            Ok(())
        } else {
            Err(vec![FieldError::new(
                "locale",
                "must be a language tag such as `en` or `de-DE`",
            )])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@exa..mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_follow_e164() {
        assert_eq!(parse_phone("+49 151 1234-5678").unwrap(), "+4915112345678");
        for bad in [
            "015112345678",
            "+0123",
            "+1",
            "+12345678901234567",
            "+49abc",
        ] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registration_reports_every_bad_field() {
        let input = RegisterInput {
            email: "nope".into(),
            password: "short".into(),
            name: " ".into(),
            phone: Some("123".into()),
        };
        let fields: Vec<String> = input
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["email", "password", "name", "phone"]);
    }

    #[test]
    fn locales() {
        let mut prefs = Preferences {
            email_notifications: true,
            sms_notifications: false,
            marketing_opt_in: false,
            locale: "de-DE".into(),
        };
        assert!(prefs.validate().is_ok());
        prefs.locale = "german".into();
        assert!(prefs.validate().is_err());
    }
}

/// Longest account token accepted (issued tokens are 43 characters).
const MAX_TOKEN_CHARS: usize = 256;

fn check_token(field: &str, token: &str) -> Result<(), FieldError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_TOKEN_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// `POST /auth/verify-email`: the token from the emailed link.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailInput {
    /// The token from the link.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub token: String,
}

impl VerifyEmailInput {
    /// The token, if it can be one.
    pub fn validate(&self) -> Result<&str, Vec<FieldError>> {
        check_token("token", &self.token).map_err(|e| vec![e])?;
        Ok(&self.token)
    }
}

/// `POST /auth/password/forgot`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordInput {
    /// The account's email address.
    #[schema(
        max_length = 254,
        pattern = "^[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[!-?A-~]{1,64}@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+[ \\t\\n\\r\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    pub email: String,
}

impl ForgotPasswordInput {
    /// The normalized email.
    pub fn validate(&self) -> Result<Email, Vec<FieldError>> {
        Email::parse(&self.email).map_err(|m| vec![FieldError::new("email", m)])
    }
}

/// `POST /auth/password/reset`: the token from the emailed link and the new password.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordInput {
    /// The token from the link.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub token: String,
    /// The new password, 10 to 128 characters, not only white space.
    #[schema(
        min_length = 10,
        max_length = 128,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub new_password: String,
}

impl ResetPasswordInput {
    /// Applies the rules, reporting all failures by field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(e) = check_token("token", &self.token) {
            errors.push(e);
        }
        if let Err(m) = check_password(&self.new_password) {
            errors.push(FieldError::new("new_password", m));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `POST /me/password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordInput {
    /// The password in use now.
    #[schema(min_length = 1, max_length = 128)]
    pub current_password: String,
    /// The new password, 10 to 128 characters, not only white space, different from the
    /// current one.
    #[schema(
        min_length = 10,
        max_length = 128,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub new_password: String,
}

impl ChangePasswordInput {
    /// Applies the rules, reporting all failures by field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.current_password.is_empty()
            || self.current_password.chars().count() > MAX_PASSWORD_CHARS
        {
            errors.push(FieldError::new(
                "current_password",
                format!("must be 1 to {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        if let Err(m) = check_password(&self.new_password) {
            errors.push(FieldError::new("new_password", m));
        } else if self.new_password == self.current_password {
            errors.push(FieldError::new(
                "new_password",
                "must differ from the current password",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The answer to requests whose outcome must not tell whether an account exists
/// (registration, forgotten password): the same body every time.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    pub status: &'static str,
    /// What happens next.
    pub detail: &'static str,
}
