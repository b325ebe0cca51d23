//! How each column type travels: natively in PostgreSQL's binary format,
//! or through its text form as a typed fallback.

use std::collections::HashMap;

use tokio_postgres::Client;
use tresor_core::{PortableType, SourceError};

use crate::error::pg_error;

/// One row of `pg_type`, the parts the codecs need.
#[derive(Clone, Debug)]
pub(crate) struct TypeInfo {
    pub(crate) name: String,
    pub(crate) typtype: u8,
    pub(crate) basetype: u32,
    pub(crate) elem: u32,
    pub(crate) category: u8,
    pub(crate) len: i16,
    pub(crate) enum_labels: Vec<String>,
}

/// All types of a database by oid.
pub(crate) type TypeMap = HashMap<u32, TypeInfo>;

/// Loads `pg_type` (a few hundred rows).
pub(crate) async fn load_types(client: &Client) -> Result<TypeMap, SourceError> {
    let rows = client
        .query(
            "SELECT t.oid, pg_catalog.format_type(t.oid, NULL), t.typtype::text, t.typbasetype, \
                    t.typelem, t.typcategory::text, t.typlen, \
                    CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e \
                         WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END \
             FROM pg_catalog.pg_type t",
            &[],
        )
        .await
        .map_err(|e| pg_error("cannot read pg_type", e))?;
    let mut map = HashMap::with_capacity(rows.len());
    for r in rows {
        let oid: u32 = r.get(0);
        let typtype: String = r.get(2);
        let category: String = r.get(5);
        map.insert(
            oid,
            TypeInfo {
                name: r.get(1),
                typtype: typtype.bytes().next().unwrap_or(b'b'),
                basetype: r.get(3),
                elem: r.get(4),
                category: category.bytes().next().unwrap_or(b'U'),
                len: r.get(6),
                enum_labels: r.get::<_, Option<Vec<String>>>(7).unwrap_or_default(),
            },
        );
    }
    Ok(map)
}

/// The wire treatment of one column or array element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Money,
    Text,
    Bytea,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    Bits,
    Enum,
    /// An array; `elem_oid` is the element type as the array header names
    /// it (a domain's oid for arrays of domains).
    Array {
        elem_oid: u32,
        elem: Box<Codec>,
    },
    /// `inet` (or `cidr`) written from its text form on restore. Backups
    /// still read it through [`Codec::Fallback`], so its values are
    /// PostgreSQL's own text.
    Inet {
        cidr: bool,
    },
    /// Read as `col::text`, kept as [`tresor_core::Value::Other`], written
    /// through a text staging column and a cast.
    Fallback,
}

impl Codec {
    /// The codec for values of type `oid`.
    pub(crate) fn for_type(types: &TypeMap, oid: u32) -> Codec {
        Self::resolve(types, oid, 0)
    }

    fn resolve(types: &TypeMap, oid: u32, depth: u32) -> Codec {
        let Some(t) = types.get(&oid) else {
            return Codec::Fallback;
        };
        if depth > 16 {
            return Codec::Fallback;
        }
        match t.typtype {
            b'd' => return Self::resolve(types, t.basetype, depth + 1),
            b'e' => return Codec::Enum,
            _ => {}
        }
        let builtin = match oid {
            16 => Some(Codec::Bool),
            17 => Some(Codec::Bytea),
            19 | 25 | 1042 | 1043 => Some(Codec::Text),
            20 => Some(Codec::Int8),
            21 => Some(Codec::Int2),
            23 => Some(Codec::Int4),
            26 => Some(Codec::Oid),
            114 => Some(Codec::Json),
            700 => Some(Codec::Float4),
            701 => Some(Codec::Float8),
            790 => Some(Codec::Money),
            1082 => Some(Codec::Date),
            1083 => Some(Codec::Time),
            1114 => Some(Codec::Timestamp),
            1184 => Some(Codec::TimestampTz),
            1186 => Some(Codec::Interval),
            1266 => Some(Codec::TimeTz),
            1560 | 1562 => Some(Codec::Bits),
            1700 => Some(Codec::Numeric),
            2950 => Some(Codec::Uuid),
            3802 => Some(Codec::Jsonb),
            // int2vector and oidvector look like arrays but are not
            22 | 30 => Some(Codec::Fallback),
            _ => None,
        };
        if let Some(c) = builtin {
            return c;
        }
        if t.category == b'A' && t.elem != 0 && t.len == -1 {
            return match Self::resolve(types, t.elem, depth + 1) {
                Codec::Fallback | Codec::Array { .. } => Codec::Fallback,
                elem => Codec::Array {
                    elem_oid: t.elem,
                    elem: Box::new(elem),
                },
            };
        }
        Codec::Fallback
    }

    /// The codec for writing values of type `oid` that a PostgreSQL
    /// snapshot holds: as [`Codec::for_type`], except that `inet` and
    /// `cidr` (and domains over them) are written in binary from their
    /// text rather than through a staging table and a cast.
    pub(crate) fn for_restore(types: &TypeMap, oid: u32) -> Codec {
        let mut base = oid;
        for _ in 0..16 {
            match types.get(&base) {
                Some(t) if t.typtype == b'd' => base = t.basetype,
                _ => break,
            }
        }
        match base {
            869 => Codec::Inet { cidr: false },
            650 => Codec::Inet { cidr: true },
            _ => Self::for_type(types, oid),
        }
    }

    /// Whether values travel as text.
    pub(crate) fn is_fallback(&self) -> bool {
        matches!(self, Codec::Fallback)
    }
}

/// The portable type of a column of type `oid` with modifier `typmod`.
pub(crate) fn portable_type(types: &TypeMap, oid: u32, typmod: i32) -> PortableType {
    let mut base = oid;
    let mut typmod = typmod;
    for _ in 0..16 {
        match types.get(&base) {
            Some(t) if t.typtype == b'd' => {
                base = t.basetype;
                typmod = -1;
            }
            _ => break,
        }
    }
    let Some(t) = types.get(&base) else {
        return PortableType::Other {
            name: format!("oid {oid}"),
        };
    };
    let modifier = (typmod >= 4).then(|| (typmod - 4) as u32);
    match Codec::for_type(types, base) {
        Codec::Bool => PortableType::Bool,
        Codec::Int2 => PortableType::Int {
            bits: 16,
            unsigned: false,
        },
        Codec::Int4 => PortableType::Int {
            bits: 32,
            unsigned: false,
        },
        Codec::Int8 => PortableType::Int {
            bits: 64,
            unsigned: false,
        },
        Codec::Oid => PortableType::Int {
            bits: 32,
            unsigned: true,
        },
        Codec::Float4 => PortableType::Float { bits: 32 },
        Codec::Float8 => PortableType::Float { bits: 64 },
        Codec::Numeric => PortableType::Decimal {
            precision: modifier.map(|m| m >> 16),
            scale: modifier.map(|m| m & 0xffff),
        },
        Codec::Text => PortableType::Text {
            max_len: if base == 19 {
                Some(63)
            } else {
                modifier.map(u64::from)
            },
            fixed: base == 1042,
        },
        Codec::Bytea => PortableType::Bytes {
            max_len: None,
            fixed: false,
        },
        Codec::Date => PortableType::Date,
        Codec::Time => PortableType::Time,
        Codec::TimeTz => PortableType::TimeTz,
        Codec::Timestamp => PortableType::Timestamp,
        Codec::TimestampTz => PortableType::TimestampTz,
        Codec::Interval => PortableType::Interval,
        Codec::Uuid => PortableType::Uuid,
        Codec::Json | Codec::Jsonb => PortableType::Json,
        Codec::Bits => PortableType::Bits {
            len: (base == 1560 && typmod > 0).then_some(typmod as u32),
        },
        Codec::Enum => PortableType::Enum {
            labels: t.enum_labels.clone(),
        },
        Codec::Array { elem_oid, .. } => PortableType::Array {
            element: Box::new(portable_type(types, elem_oid, -1)),
        },
        Codec::Money | Codec::Inet { .. } | Codec::Fallback => PortableType::Other {
            name: t.name.clone(),
        },
    }
}

/// Key columns of these codecs sort in PostgreSQL as
/// [`tresor_core::compare_keys`] sorts them (text with `COLLATE "C"`,
/// enums by label text).
pub(crate) fn key_order_supported(codec: &Codec) -> bool {
    matches!(
        codec,
        Codec::Bool
            | Codec::Int2
            | Codec::Int4
            | Codec::Int8
            | Codec::Oid
            | Codec::Float4
            | Codec::Float8
            | Codec::Numeric
            | Codec::Text
            | Codec::Bytea
            | Codec::Date
            | Codec::Time
            | Codec::Timestamp
            | Codec::TimestampTz
            | Codec::Uuid
            | Codec::Enum
    )
}

/// Double-quotes an identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`; a name without a schema is in `public`.
pub(crate) fn qualified(name: &tresor_core::TableName) -> String {
    format!(
        "{}.{}",
        ident(name.schema.as_deref().unwrap_or("public")),
        ident(&name.name)
    )
}

/// How a relation is named in snapshots: tables (and views) of the
/// `public` schema without a schema, as psql shows them, others qualified.
pub(crate) fn rel_name(schema: String, name: String) -> tresor_core::TableName {
    if schema == "public" {
        tresor_core::TableName::new(name)
    } else {
        tresor_core::TableName::qualified(schema, name)
    }
}

/// The name with its schema spelled out (`public` included).
pub(crate) fn full_name(name: &tresor_core::TableName) -> tresor_core::TableName {
    tresor_core::TableName::qualified(
        name.schema.clone().unwrap_or_else(|| "public".into()),
        name.name.clone(),
    )
}
