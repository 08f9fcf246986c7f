//! Which PostgreSQL types Strata reads and writes, by type OID.
//!
//! Parameters and columns travel in PostgreSQL's binary format, so each
//! supported type has its own codec ([`super::encode`], [`super::decode`]).
//! Enums, `citext` and domains over a supported type count as their base.

use sqlx::TypeInfo as _;
use sqlx::postgres::{PgTypeInfo, PgTypeKind};

/// How values of one PostgreSQL type are encoded and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PgKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    /// `text`, `varchar`, `bpchar`, `name`, `"char"`, `xml`, `unknown`,
    /// `citext`, enums: UTF-8 text on the wire.
    Text,
    Bytea,
    Uuid,
    Timestamp,
    Timestamptz,
    Date,
    Time,
    Json,
    Jsonb,
    /// The result of a function returning nothing.
    Void,
    Array {
        element: Box<PgKind>,
        element_oid: u32,
    },
    /// A type without a codec here, by name.
    Unsupported(String),
}

impl PgKind {
    /// The kind of a type PostgreSQL described for a parameter or column.
    pub(crate) fn of(ty: &PgTypeInfo) -> PgKind {
        let Some(oid) = ty.oid() else {
            return PgKind::Unsupported(ty.name().to_ascii_lowercase());
        };
        if let Some(kind) = builtin(oid.0) {
            return kind;
        }
        // sqlx names a type it could not resolve `?`; asking its kind would
        // panic, so anything unresolved is unsupported.
        if ty.name() == "?" {
            return PgKind::Unsupported(format!("type oid {}", oid.0));
        }
        match ty.kind() {
            PgTypeKind::Enum(_) => PgKind::Text,
            PgTypeKind::Domain(base) => PgKind::of(base),
            PgTypeKind::Array(element) => match element.oid() {
                Some(element_oid) => PgKind::Array {
                    element: Box::new(PgKind::of(element)),
                    element_oid: element_oid.0,
                },
                None => PgKind::Unsupported(ty.name().to_ascii_lowercase()),
            },
            PgTypeKind::Simple if ty.name().eq_ignore_ascii_case("citext") => PgKind::Text,
            _ => PgKind::Unsupported(ty.name().to_ascii_lowercase()),
        }
    }
}

/// Built-in types, by the OIDs fixed in PostgreSQL's `pg_type.dat`.
pub(crate) fn builtin(oid: u32) -> Option<PgKind> {
    let scalar = |oid| {
        Some(match oid {
            16 => PgKind::Bool,
            17 => PgKind::Bytea,
            18 | 19 | 25 | 142 | 705 | 1042 | 1043 => PgKind::Text,
            20 => PgKind::Int8,
            21 => PgKind::Int2,
            23 => PgKind::Int4,
            26 => PgKind::Oid,
            114 => PgKind::Json,
            700 => PgKind::Float4,
            701 => PgKind::Float8,
            1082 => PgKind::Date,
            1083 => PgKind::Time,
            1114 => PgKind::Timestamp,
            1184 => PgKind::Timestamptz,
            1700 => PgKind::Numeric,
            2278 => PgKind::Void,
            2950 => PgKind::Uuid,
            3802 => PgKind::Jsonb,
            _ => return None,
        })
    };
    let element_oid = match oid {
        1000 => 16,
        1001 => 17,
        1002 => 18,
        1003 => 19,
        1016 => 20,
        1005 => 21,
        1007 => 23,
        1009 => 25,
        1028 => 26,
        199 => 114,
        143 => 142,
        1021 => 700,
        1022 => 701,
        1014 => 1042,
        1015 => 1043,
        1182 => 1082,
        1183 => 1083,
        1115 => 1114,
        1185 => 1184,
        1231 => 1700,
        2951 => 2950,
        3807 => 3802,
        _ => return scalar(oid),
    };
    Some(PgKind::Array {
        element: Box::new(scalar(element_oid)?),
        element_oid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_arrays_know_their_element() {
        assert_eq!(
            builtin(1016),
            Some(PgKind::Array {
                element: Box::new(PgKind::Int8),
                element_oid: 20
            })
        );
        assert_eq!(builtin(2950), Some(PgKind::Uuid));
        assert_eq!(builtin(869), None, "inet has no codec");
    }
}
