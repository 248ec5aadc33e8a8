//! SQL for accounts, preferences and refresh tokens.

use events::payloads::{AccountHolder, UserPasswordChanged};
use events::{Envelope, Event};
use service_kit::ApiError;
use service_kit::messaging::{MessagingError, enqueue};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::account::{Contact, Preferences, ProfileChange, Registration};

/// An account as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    /// User id (the JWT subject).
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Phone in E.164.
    pub phone: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the owner confirmed the email address (through the emailed link or a password
    /// reset).
    pub email_verified: bool,
    /// Registration time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Valid: the old token is spent, this is the account and session to issue for.
    Rotated {
        /// The account.
        user: User,
        /// The session (token family).
        family_id: Uuid,
    },
    /// A spent token came back: the whole family is now revoked.
    Reused {
        /// The revoked family.
        family_id: Uuid,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// user_id, family_id, expires_at, used_at, revoked_at
type TokenRow = (
    Uuid,
    Uuid,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

const USER_COLUMNS: &str =
    "id, email, name, phone, roles, (email_verified_at is not null) as email_verified, created_at";

/// The source of every event users writes.
pub const EVENT_SOURCE: &str = "/users";

/// What a registration led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// A new account, with its verification token stored and `user.registered` in the outbox.
    Created(User),
    /// The email already has this account; nothing changed.
    Exists(AccountHolder),
}

/// What an account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms the email address.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A password changed: who, and which sessions (token families) ended with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChanged {
    /// The account.
    pub holder: AccountHolder,
    /// Every session of the account that could still be alive; all are revoked.
    pub ended_sessions: Vec<Uuid>,
}

fn outbox_failed(err: &MessagingError) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("outbox: {err}"))
}

/// Writes `envelope` to the outbox in `tx`, keyed by the account.
async fn publish<T: Event>(
    tx: &mut PgConnection,
    envelope: &Envelope<T>,
    user_id: &str,
) -> Result<(), ApiError> {
    enqueue(tx, envelope, user_id)
        .await
        .map_err(|e| outbox_failed(&e))
}

/// Revokes every refresh token of `user_id` and returns the sessions that could still be
/// alive (families with a token not yet expired), so their Redis entries can be ended too;
/// calling it again returns them again, so a retry can finish what Redis refused.
async fn revoke_all(tx: &mut PgConnection, user_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    sqlx::query(
        "update refresh_tokens set revoked_at = now() where user_id = $1 and revoked_at is null",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    Ok(sqlx::query_scalar(
        "select distinct family_id from refresh_tokens where user_id = $1 and expires_at > now()",
    )
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?)
}

async fn holder_by_id(tx: &mut PgConnection, id: Uuid) -> Result<Option<AccountHolder>, ApiError> {
    let row: Option<(Uuid, String, String, String)> = sqlx::query_as(
        "select u.id, u.email, u.name, p.locale from users u \
         join preferences p on p.user_id = u.id where u.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(id, email, name, locale)| AccountHolder {
        user_id: id.to_string(),
        email,
        name,
        locale,
    }))
}

/// The users database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Creates an account with default preferences, stores its verification token's hash and
    /// writes `user.registered` (built by `event` from the new account) to the outbox, in one
    /// transaction. An email that already has an account changes nothing and answers
    /// [`Registered::Exists`].
    pub async fn register(
        &self,
        id: Uuid,
        registration: &Registration,
        password_hash: &str,
        verification: (&[u8], OffsetDateTime),
        event: &Envelope<events::payloads::UserRegistered>,
    ) -> Result<Registered, ApiError> {
        let mut tx = self.pool.begin().await?;
        let user: Option<User> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into users (id, email, password_hash, name, phone) values ($1, $2, $3, $4, $5) \
             on conflict (email) do nothing returning {USER_COLUMNS}"
        )))
        .bind(id)
        .bind(registration.email.as_str())
        .bind(password_hash)
        .bind(&registration.name)
        .bind(&registration.phone)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else {
            let existing: Option<Uuid> =
                sqlx::query_scalar("select id from users where email = $1")
                    .bind(registration.email.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let holder = match existing {
                Some(id) => holder_by_id(&mut tx, id).await?,
                None => None,
            };
            // Deleted between the insert and the look-up: a conflict nobody can act on.
            return holder.map(Registered::Exists).ok_or_else(|| {
                ApiError::Conflict("the account changed meanwhile; try again".into())
            });
        };
        sqlx::query("insert into preferences (user_id) values ($1)")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, user.id, Purpose::VerifyEmail, verification).await?;
        publish(&mut tx, event, &user.id.to_string()).await?;
        tx.commit().await?;
        Ok(Registered::Created(user))
    }

    /// The account holder (id, email, name, locale) of an email, if it has an account.
    pub async fn holder_by_email(&self, email: &str) -> Result<Option<AccountHolder>, ApiError> {
        let mut conn = self.pool.acquire().await?;
        let id: Option<Uuid> = sqlx::query_scalar("select id from users where email = $1")
            .bind(email)
            .fetch_optional(&mut *conn)
            .await?;
        match id {
            Some(id) => holder_by_id(&mut conn, id).await,
            None => Ok(None),
        }
    }

    /// The account holder of an id.
    pub async fn holder(&self, id: Uuid) -> Result<Option<AccountHolder>, ApiError> {
        let mut conn = self.pool.acquire().await?;
        holder_by_id(&mut conn, id).await
    }

    /// Writes one event about an account to the outbox.
    pub async fn publish<T: Event>(
        &self,
        envelope: &Envelope<T>,
        user_id: &str,
    ) -> Result<(), ApiError> {
        let mut tx = self.pool.begin().await?;
        publish(&mut tx, envelope, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new account token (its hash) for `purpose`, ending the account's earlier
    /// unused tokens of that purpose (only the latest link works), and writes `event` to the
    /// outbox, in one transaction.
    pub async fn issue_token<T: Event>(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        token: (&[u8], OffsetDateTime),
        event: &Envelope<T>,
    ) -> Result<(), ApiError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "delete from account_tokens where user_id = $1 and purpose = $2 and used_at is null",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, user_id, purpose, token).await?;
        publish(&mut tx, event, &user_id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends an email verification token and marks the address verified; false when the
    /// token is unknown, spent or expired.
    pub async fn verify_email(&self, token_hash: &[u8]) -> Result<bool, ApiError> {
        let verified: Option<Uuid> = sqlx::query_scalar(
            "with spent as (update account_tokens set used_at = now() \
               where token_hash = $1 and purpose = 'verify_email' and used_at is null \
               and expires_at > now() returning user_id) \
             update users set email_verified_at = coalesce(email_verified_at, now()), \
               updated_at = now() where id = (select user_id from spent) returning id",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(verified.is_some())
    }

    /// Spends a password reset token: sets the new password, marks the email verified (the
    /// link proved the inbox), ends every session and writes `user.password_changed`, in one
    /// transaction. `None` when the token is unknown, spent or expired.
    pub async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
    ) -> Result<Option<PasswordChanged>, ApiError> {
        let mut tx = self.pool.begin().await?;
        let user_id: Option<Uuid> = sqlx::query_scalar(
            "update account_tokens set used_at = now() where token_hash = $1 \
             and purpose = 'reset_password' and used_at is null and expires_at > now() \
             returning user_id",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        sqlx::query(
            "update users set password_hash = $2, \
             email_verified_at = coalesce(email_verified_at, now()), updated_at = now() \
             where id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        let changed = password_changed(&mut tx, user_id, "reset").await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Sets a new password for a signed-in owner (who gave the current one), ends every
    /// session and writes `user.password_changed`, in one transaction.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
    ) -> Result<Option<PasswordChanged>, ApiError> {
        let mut tx = self.pool.begin().await?;
        let updated =
            sqlx::query("update users set password_hash = $2, updated_at = now() where id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let changed = password_changed(&mut tx, user_id, "changed").await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Ends every session of an account ("sign out everywhere"): revokes all its refresh
    /// tokens and returns the sessions to end in Redis.
    pub async fn revoke_sessions(&self, user_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
        let mut tx = self.pool.begin().await?;
        let sessions = revoke_all(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(sessions)
    }

    /// The password hash of an account.
    pub async fn password_hash(&self, id: Uuid) -> Result<Option<String>, ApiError> {
        Ok(
            sqlx::query_scalar("select password_hash from users where id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The account and password hash for an email.
    pub async fn credentials(&self, email: &str) -> Result<Option<(User, String)>, ApiError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {USER_COLUMNS}, password_hash from users where email = $1"
        )))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.user, r.password_hash)))
    }

    /// An account by id.
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, ApiError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {USER_COLUMNS} from users where id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Applies a profile change.
    pub async fn update_profile(
        &self,
        id: Uuid,
        change: &ProfileChange,
    ) -> Result<Option<User>, ApiError> {
        let (set_phone, phone) = match &change.phone {
            Some(phone) => (true, phone.clone()),
            None => (false, None),
        };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "update users set name = coalesce($2, name), \
             phone = case when $3 then $4 else phone end, updated_at = now() \
             where id = $1 returning {USER_COLUMNS}"
        )))
        .bind(id)
        .bind(&change.name)
        .bind(set_phone)
        .bind(phone)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// An account's preferences.
    pub async fn preferences(&self, id: Uuid) -> Result<Option<Preferences>, ApiError> {
        let row: Option<(bool, bool, bool, String)> = sqlx::query_as(
            "select email_notifications, sms_notifications, marketing_opt_in, locale \
             from preferences where user_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(email_notifications, sms_notifications, marketing_opt_in, locale)| Preferences {
                email_notifications,
                sms_notifications,
                marketing_opt_in,
                locale,
            },
        ))
    }

    /// An account's contact fields and preferences, in one query.
    pub async fn contact(&self, id: Uuid) -> Result<Option<Contact>, ApiError> {
        type Row = (String, String, Option<String>, bool, bool, bool, String);
        let row: Option<Row> = sqlx::query_as(
            "select u.email, u.name, u.phone, p.email_notifications, p.sms_notifications, \
             p.marketing_opt_in, p.locale from users u join preferences p on p.user_id = u.id \
             where u.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(
                email,
                name,
                phone,
                email_notifications,
                sms_notifications,
                marketing_opt_in,
                locale,
            )| {
                Contact {
                    email,
                    name,
                    phone,
                    preferences: Preferences {
                        email_notifications,
                        sms_notifications,
                        marketing_opt_in,
                        locale,
                    },
                }
            },
        ))
    }

    /// Replaces an account's preferences.
    pub async fn set_preferences(&self, id: Uuid, prefs: &Preferences) -> Result<bool, ApiError> {
        let result = sqlx::query(
            "update preferences set email_notifications = $2, sms_notifications = $3, \
             marketing_opt_in = $4, locale = $5, updated_at = now() where user_id = $1",
        )
        .bind(id)
        .bind(prefs.email_notifications)
        .bind(prefs.sms_notifications)
        .bind(prefs.marketing_opt_in)
        .bind(&prefs.locale)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Grants `admin` to an existing account; false when there is none.
    pub async fn promote_admin(&self, email: &str) -> Result<bool, ApiError> {
        let result = sqlx::query(
            "update users set roles = array_append(roles, 'admin'), updated_at = now() \
             where email = $1 and not ('admin' = any(roles))",
        )
        .bind(email)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 1 {
            return Ok(true);
        }
        let exists: Option<i32> = sqlx::query_scalar("select 1 from users where email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(exists.is_some())
    }

    /// Stores a new refresh token of `family_id`.
    pub async fn insert_refresh(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), ApiError> {
        sqlx::query(
            "insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(family_id)
        .bind(user_id)
        .bind(token_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Spends a refresh token and stores its successor, atomically; a spent token presented
    /// again revokes its family.
    pub async fn rotate(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<Rotation, ApiError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<TokenRow> = sqlx::query_as(
            "select user_id, family_id, expires_at, used_at, revoked_at from refresh_tokens \
                 where token_hash = $1 for update",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, family_id, expires, used_at, revoked_at)) = row else {
            return Ok(Rotation::Invalid);
        };
        if revoked_at.is_some() {
            return Ok(Rotation::Invalid);
        }
        if used_at.is_some() {
            sqlx::query("update refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null")
                .bind(family_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Reused { family_id });
        }
        if expires <= OffsetDateTime::now_utc() {
            return Ok(Rotation::Invalid);
        }
        sqlx::query("update refresh_tokens set used_at = now() where token_hash = $1")
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(family_id)
        .bind(user_id)
        .bind(new_hash)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let user: Option<User> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {USER_COLUMNS} from users where id = $1"
        )))
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user.map_or(Rotation::Invalid, |user| Rotation::Rotated {
            user,
            family_id,
        }))
    }

    /// Revokes the family of a refresh token; returns the family when the token was known.
    pub async fn revoke_by_token(&self, token_hash: &[u8]) -> Result<Option<Uuid>, ApiError> {
        let family: Option<Uuid> =
            sqlx::query_scalar("select family_id from refresh_tokens where token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(family_id) = family {
            sqlx::query("update refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null")
                .bind(family_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(family)
    }
}

async fn insert_token(
    tx: &mut PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    (hash, expires_at): (&[u8], OffsetDateTime),
) -> Result<(), ApiError> {
    sqlx::query(
        "insert into account_tokens (token_hash, user_id, purpose, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// After a password change in `tx`: ends every session, ends unused reset links, and writes
/// `user.password_changed`.
async fn password_changed(
    tx: &mut PgConnection,
    user_id: Uuid,
    how: &str,
) -> Result<Option<PasswordChanged>, ApiError> {
    sqlx::query(
        "delete from account_tokens where user_id = $1 and purpose = 'reset_password' \
         and used_at is null",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let ended_sessions = revoke_all(tx, user_id).await?;
    let Some(holder) = holder_by_id(tx, user_id).await? else {
        return Ok(None);
    };
    let event = Envelope::new(
        EVENT_SOURCE,
        &holder.user_id,
        None,
        UserPasswordChanged {
            account: holder.clone(),
            how: how.to_owned(),
        },
    );
    publish(tx, &event, &holder.user_id).await?;
    Ok(Some(PasswordChanged {
        holder,
        ended_sessions,
    }))
}
