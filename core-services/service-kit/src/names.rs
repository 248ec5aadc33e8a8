//! Enums known by name: a state or a reason that is stored in a `text` column, sent in events
//! and shown in APIs as one fixed word per variant. [`named_enum!`](crate::named_enum) gives
//! such an enum (with `const ALL` and `const fn as_str`) its `FromStr` and `Display` from those
//! two, and, with the `postgres` feature, its SQL mapping (text in, text out), so each domain
//! declares its words once and SQL reads and writes them in one place.

/// A name that is none of an enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not {what}: {name}")]
pub struct UnknownName {
    /// What the enum names (`an order state`).
    pub what: &'static str,
    /// The name given.
    pub name: String,
}

/// Gives `$ty` (an enum with `const ALL: [Self; N]` and `const fn as_str(self) -> &'static str`)
/// `FromStr` (refusing other names with [`UnknownName`], `$what` saying what it names),
/// `Display`, and with the `postgres` feature sqlx's `Type`, `Encode` and `Decode` for
/// PostgreSQL `text`.
#[macro_export]
macro_rules! named_enum {
    ($ty:ty, $what:literal) => {
        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| $crate::names::UnknownName {
                        what: $what,
                        name: s.to_owned(),
                    })
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::__text_column!($ty);
    };
}

/// The SQL half of [`named_enum!`](crate::named_enum).
#[cfg(feature = "postgres")]
#[doc(hidden)]
#[macro_export]
macro_rules! __text_column {
    ($ty:ty) => {
        impl $crate::__sqlx::Type<$crate::__sqlx::Postgres> for $ty {
            fn type_info() -> $crate::__sqlx::postgres::PgTypeInfo {
                <&str as $crate::__sqlx::Type<$crate::__sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &$crate::__sqlx::postgres::PgTypeInfo) -> bool {
                <&str as $crate::__sqlx::Type<$crate::__sqlx::Postgres>>::compatible(ty)
            }
        }

        impl $crate::__sqlx::Encode<'_, $crate::__sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut $crate::__sqlx::postgres::PgArgumentBuffer,
            ) -> ::std::result::Result<
                $crate::__sqlx::encode::IsNull,
                $crate::__sqlx::error::BoxDynError,
            > {
                <&str as $crate::__sqlx::Encode<$crate::__sqlx::Postgres>>::encode(
                    self.as_str(),
                    buf,
                )
            }
        }

        impl $crate::__sqlx::Decode<'_, $crate::__sqlx::Postgres> for $ty {
            fn decode(
                value: $crate::__sqlx::postgres::PgValueRef<'_>,
            ) -> ::std::result::Result<Self, $crate::__sqlx::error::BoxDynError> {
                Ok(
                    <&str as $crate::__sqlx::Decode<$crate::__sqlx::Postgres>>::decode(value)?
                        .parse::<Self>()?,
                )
            }
        }
    };
}

/// The SQL half of [`named_enum!`](crate::named_enum): nothing without the `postgres` feature.
#[cfg(not(feature = "postgres"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __text_column {
    ($ty:ty) => {};
}
