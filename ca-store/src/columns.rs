//! How values are kept in columns, converted in one place at the store boundary.
//!
//! - **Time** is a [`jiff::Timestamp`] above the store and `BIGINT` seconds since the Unix
//!   epoch in the schema (docs/adr/0003-time.md). tsca's instants are whole seconds, as X.509
//!   and OCSP encode them; a stored value outside jiff's range is a [`StoreError::Corrupt`]
//!   naming the column, never a silent default.
//! - **Statuses and other closed sets** are `TEXT` with a `CHECK`; [`text_enum!`] makes the
//!   Rust enum whose only spellings are those values.
//! - **Ids** are `BIGINT` identity columns; [`id_type!`] makes one newtype per table so an
//!   operator id cannot be passed where an authority id is meant.
//! - **Numbering scopes** are the canonical text of ca-core's `NumberingScope`, entries
//!   separated by single spaces, `*` for the unconstrained scope of a root.

use ca_core::numbering::{NumberingScope, ScopeConstraint};
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StoreError};

/// A status-like enum stored as TEXT, with the schema's CHECK values as its only spellings.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("Stored as `", $text, "`.")] #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The stored (and API) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::StoreError;
            fn from_str(text: &str) -> Result<Self, $crate::error::StoreError> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::error::StoreError::corrupt(
                        stringify!($name),
                        format!("{other:?} is not one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

/// A row id newtype for one table.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The row id.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

pub(crate) use id_type;
pub(crate) use text_enum;

/// A time as stored: whole seconds since the epoch.
pub(crate) fn time_to_column(t: Timestamp) -> i64 {
    t.as_second()
}

/// A stored time, or `Corrupt` naming the column.
pub(crate) fn time_from_column(column: &'static str, seconds: i64) -> Result<Timestamp> {
    Timestamp::from_second(seconds)
        .map_err(|e| StoreError::corrupt(column, format!("{seconds} is not a time: {e}")))
}

/// Reads a NOT NULL time column.
pub(crate) fn get_time(row: &AnyRow, column: &'static str) -> Result<Timestamp> {
    time_from_column(column, row.try_get::<i64, _>(column)?)
}

/// Reads a nullable time column.
pub(crate) fn get_optional_time(row: &AnyRow, column: &'static str) -> Result<Option<Timestamp>> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|s| time_from_column(column, s))
        .transpose()
}

/// Reads a column that the schema (or the record's status) says is present: `None` is a
/// corrupt row, named by `what`.
pub(crate) fn required<T>(
    value: Option<T>,
    what: &'static str,
    record: impl std::fmt::Display,
) -> Result<T> {
    value.ok_or_else(|| StoreError::corrupt(what, format!("missing on {record}")))
}

/// The text form of a scope in the database: "*" for unconstrained, else entries separated
/// by single spaces.
pub(crate) fn scope_to_text(scope: &ScopeConstraint) -> String {
    match scope {
        ScopeConstraint::Unconstrained => "*".into(),
        ScopeConstraint::Within(scope) => numbering_scope_to_text(scope),
    }
}

pub(crate) fn numbering_scope_to_text(scope: &NumberingScope) -> String {
    scope
        .entries()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn scope_from_text(text: &str) -> Result<ScopeConstraint> {
    if text == "*" {
        return Ok(ScopeConstraint::Unconstrained);
    }
    numbering_scope_from_text(text).map(ScopeConstraint::Within)
}

pub(crate) fn numbering_scope_from_text(text: &str) -> Result<NumberingScope> {
    NumberingScope::parse(text.split_whitespace()).map_err(|e| StoreError::corrupt("scope", e))
}

/// A 32-octet hash stored as lower-case hex.
pub(crate) fn sha256_from_hex(column: &'static str, text: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|e| StoreError::corrupt(column, format!("{text:?} is not 64 hex digits: {e}")))?;
    Ok(out)
}
