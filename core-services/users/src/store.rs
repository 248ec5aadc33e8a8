//! SQL for accounts, preferences and refresh tokens.

use service_kit::ApiError;
use sqlx::PgPool;
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

const USER_COLUMNS: &str = "id, email, name, phone, roles, created_at";

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

    /// Creates an account with default preferences.
    pub async fn create_user(
        &self,
        registration: &Registration,
        password_hash: &str,
    ) -> Result<User, ApiError> {
        let mut tx = self.pool.begin().await?;
        let user: User = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into users (id, email, password_hash, name, phone) values ($1, $2, $3, $4, $5) \
             returning {USER_COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(registration.email.as_str())
        .bind(password_hash)
        .bind(&registration.name)
        .bind(&registration.phone)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| match ApiError::from(err) {
            ApiError::Conflict(_) => ApiError::Conflict("an account with this email exists".into()),
            other => other,
        })?;
        sqlx::query("insert into preferences (user_id) values ($1)")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user)
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
