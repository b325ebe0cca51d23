//! PostgreSQL majors 12 to 18: what each one added that a backup may hold
//! or a restore relies on, read once per session from
//! `server_version_num`.
//!
//! A backup gates its catalog queries on the source's version and records
//! that version in the snapshot (setting `server_version_num`). A restore
//! computes one [`Fit`] from the snapshot's version and the target server
//! (version and build): the snapshot's definitions rewritten for what the
//! target can create, the approximations that rewriting makes (the dry
//! run lists them, `--strict` refuses them), the value conversions the
//! load applies, and what cannot be restored there at all.

mod adapt;
mod values;

use std::collections::HashMap;

use tokio_postgres::Client;
use tresor_core::{Approximation, DatabaseSchema, ErrorKind, SourceError, TableName, Value};

use crate::error::pg_error;
use crate::types::ident;

/// The snapshot setting that records the source's `server_version_num`.
pub(crate) const VERSION_SETTING: &str = "server_version_num";

/// A server's version as `server_version_num` has it (150004 is 15.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ServerVersion(u32);

impl ServerVersion {
    /// The version of the server `client` is connected to.
    pub(crate) async fn read(client: &Client) -> Result<Self, SourceError> {
        let num: i32 = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version_num')::integer",
                &[],
            )
            .await
            .map_err(|e| pg_error("cannot read the server version", e))?
            .get(0);
        Ok(ServerVersion(num.max(0).unsigned_abs()))
    }

    /// The version a snapshot was taken from; `None` for snapshots taken
    /// before tresor recorded it.
    pub(crate) fn of_snapshot(schema: &DatabaseSchema) -> Option<Self> {
        schema
            .settings
            .get(VERSION_SETTING)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .map(ServerVersion)
    }

    /// The number to record in a snapshot.
    pub(crate) fn num(self) -> u32 {
        self.0
    }

    /// The major version (15 for 15.4).
    pub(crate) fn major(self) -> u32 {
        self.0 / 10_000
    }

    /// Whether this version has `feature`.
    pub(crate) fn has(self, feature: Feature) -> bool {
        self.major() >= feature.since()
    }
}

/// What a major added that a backup may hold or a restore relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feature {
    /// `pg_trigger.tgparentid`: triggers cloned onto partitions.
    TriggerParent,
    /// The `xid8` type.
    Xid8,
    /// `gen_random_uuid()` without pgcrypto.
    BuiltinUuid,
    /// `DROP DATABASE ... WITH (FORCE)`.
    DropForce,
    /// SQL-standard function bodies (`BEGIN ATOMIC`, `RETURN`).
    SqlBody,
    /// Multirange types.
    Multirange,
    /// Column compression methods (`COMPRESSION lz4`).
    Compression,
    /// The role `pg_database_owner`.
    DatabaseOwnerRole,
    /// `UNIQUE NULLS NOT DISTINCT`.
    NullsNotDistinct,
    /// Views with `security_invoker`.
    SecurityInvoker,
    /// The `MAINTAIN` privilege.
    Maintain,
    /// Infinite intervals.
    InfiniteInterval,
    /// Virtual generated columns.
    VirtualGenerated,
    /// `NOT ENFORCED` constraints.
    NotEnforced,
    /// Temporal keys (`WITHOUT OVERLAPS`, `PERIOD`).
    TemporalKeys,
}

impl Feature {
    /// The first major with the feature.
    pub(crate) fn since(self) -> u32 {
        match self {
            Feature::TriggerParent | Feature::Xid8 | Feature::BuiltinUuid | Feature::DropForce => {
                13
            }
            Feature::SqlBody
            | Feature::Multirange
            | Feature::Compression
            | Feature::DatabaseOwnerRole => 14,
            Feature::NullsNotDistinct | Feature::SecurityInvoker => 15,
            Feature::Maintain | Feature::InfiniteInterval => 17,
            Feature::VirtualGenerated | Feature::NotEnforced | Feature::TemporalKeys => 18,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Feature::TriggerParent => "triggers cloned onto partitions",
            Feature::Xid8 => "xid8 type",
            Feature::BuiltinUuid => "built-in gen_random_uuid()",
            Feature::DropForce => "DROP DATABASE ... WITH (FORCE)",
            Feature::SqlBody => "SQL-standard function bodies",
            Feature::Multirange => "multirange types",
            Feature::Compression => "column compression methods",
            Feature::DatabaseOwnerRole => "role pg_database_owner",
            Feature::NullsNotDistinct => "NULLS NOT DISTINCT",
            Feature::SecurityInvoker => "security_invoker views",
            Feature::Maintain => "MAINTAIN privilege",
            Feature::InfiniteInterval => "infinite intervals",
            Feature::VirtualGenerated => "virtual generated columns",
            Feature::NotEnforced => "NOT ENFORCED constraints",
            Feature::TemporalKeys => "temporal keys (WITHOUT OVERLAPS, PERIOD)",
        }
    }
}

/// The server a restore writes to: its version, and the build option
/// that decides whether it can create what the snapshot names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TargetServer {
    pub(crate) version: ServerVersion,
    /// Built with lz4 (`COMPRESSION lz4`).
    pub(crate) lz4: bool,
}

impl TargetServer {
    /// Reads the version and build of the server `client` is connected to.
    pub(crate) async fn read(client: &Client) -> Result<Self, SourceError> {
        let version = ServerVersion::read(client).await?;
        let lz4 = if version.has(Feature::Compression) {
            client
                .query_one(
                    "SELECT COALESCE((SELECT 'lz4' = ANY(enumvals) FROM pg_catalog.pg_settings \
                     WHERE name = 'default_toast_compression'), false)",
                    &[],
                )
                .await
                .map_err(|e| pg_error("cannot read the server's settings", e))?
                .get(0)
        } else {
            false
        };
        Ok(TargetServer { version, lz4 })
    }

    /// Why this server cannot take what `feature` makes, in words.
    fn lacks(&self, feature: Feature) -> String {
        format!(
            "PostgreSQL {} has no {} ({}+)",
            self.version.major(),
            feature.words(),
            feature.since()
        )
    }
}

/// A value the load rewrites for a column whose type the target lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// A multirange's text becomes an array of its ranges.
    MultirangeToArray,
    /// A number kept as text (`xid8`) becomes a decimal.
    ToDecimal,
    /// An infinite interval fails the load: an older server would take
    /// its binary form for the largest finite interval.
    FiniteInterval {
        /// The target's major version.
        target: u32,
    },
}

impl Conversion {
    /// The value to write in place of `v`.
    pub(crate) fn apply(self, v: Value) -> Result<Value, String> {
        match (self, v) {
            (_, Value::Null) => Ok(Value::Null),
            (Conversion::MultirangeToArray, Value::Other { type_name, text }) => Ok(Value::Other {
                type_name,
                text: values::multirange_to_array(&text)?,
            }),
            (Conversion::ToDecimal, Value::Other { text, .. } | Value::Text(text)) => {
                Ok(Value::Decimal(text))
            }
            (Conversion::FiniteInterval { target }, Value::Interval(i))
                if (i.months, i.days) == (i32::MAX, i32::MAX)
                    || (i.months, i.days) == (i32::MIN, i32::MIN) =>
            {
                Err(format!(
                    "an infinite interval: PostgreSQL {target} has none ({}+)",
                    Feature::InfiniteInterval.since()
                ))
            }
            (_, v) => Ok(v),
        }
    }
}

/// One approximation, with the table whose restore makes it (`None` for
/// objects that only a restore into an empty database creates).
#[derive(Clone, Debug)]
struct Scoped {
    table: Option<TableName>,
    approximation: Approximation,
}

/// How a snapshot fits the target server of one restore: the definitions
/// to create, what that changes, and how values are converted.
#[derive(Clone, Debug)]
pub(crate) struct Fit {
    /// The snapshot's schema, rewritten for the target.
    pub(crate) schema: DatabaseSchema,
    approximations: Vec<Scoped>,
    /// Per table, the columns whose values the load converts.
    conversions: HashMap<TableName, Vec<(String, Conversion)>>,
    /// The schema to create pgcrypto in, for `gen_random_uuid()`.
    pub(crate) pgcrypto: Option<String>,
    /// What the target cannot hold at all.
    refusals: Vec<String>,
}

impl Fit {
    /// Fits `schema` (taken from `source`, when known) to `target`.
    /// `privileges`: the restore also restores owners and grants.
    pub(crate) fn new(
        schema: &DatabaseSchema,
        source: Option<ServerVersion>,
        target: TargetServer,
        privileges: bool,
    ) -> Fit {
        let mut fit = Fit {
            schema: schema.clone(),
            approximations: Vec::new(),
            conversions: HashMap::new(),
            pgcrypto: None,
            refusals: Vec::new(),
        };
        if schema.engine == tresor_core::Engine::POSTGRES {
            adapt::Adapter {
                source,
                target,
                privileges,
                fit: &mut fit,
                dropped: Vec::new(),
            }
            .run();
        }
        fit
    }

    /// Fails when the target cannot hold part of the snapshot.
    pub(crate) fn check(&self) -> Result<(), SourceError> {
        if self.refusals.is_empty() {
            return Ok(());
        }
        Err(SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "the target server cannot hold what the snapshot has: {}",
                self.refusals.join("; ")
            ),
        )
        .with_hint(
            "try: restore into a newer PostgreSQL, or leave these tables out with --exclude",
        ))
    }

    /// The approximations of a restore that makes the tables `made`
    /// answers yes for; objects outside tables only when `all_made` (a
    /// restore into a database without any of the planned tables).
    pub(crate) fn approximations(
        &self,
        made: impl Fn(&TableName) -> bool,
        all_made: bool,
    ) -> Vec<Approximation> {
        self.approximations
            .iter()
            .filter(|s| s.table.as_ref().map_or(all_made, &made))
            .map(|s| s.approximation.clone())
            .collect()
    }

    /// The conversions of `table`'s columns, by column name.
    pub(crate) fn conversions(&self, table: &TableName) -> &[(String, Conversion)] {
        self.conversions.get(table).map_or(&[], Vec::as_slice)
    }
}

/// Drops database `name` on the server `admin` is connected to, with the
/// sessions still in it: `WITH (FORCE)` where the server has it, else
/// ending them first (a session that connects in between makes the drop
/// fail, as it would by hand).
pub(crate) async fn drop_database(admin: &Client, name: &str) -> Result<(), SourceError> {
    let what = || format!("cannot drop database {name}");
    if ServerVersion::read(admin).await?.has(Feature::DropForce) {
        return admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                ident(name)
            ))
            .await
            .map_err(|e| pg_error(what(), e));
    }
    admin
        .execute(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
            &[&name],
        )
        .await
        .map_err(|e| pg_error(what(), e))?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", ident(name)))
        .await
        .map_err(|e| pg_error(what(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_intervals_are_refused_and_finite_ones_kept() {
        let convert = Conversion::FiniteInterval { target: 16 };
        let finite = Value::Interval(tresor_core::Interval {
            months: 1,
            days: 2,
            micros: 3,
        });
        assert_eq!(convert.apply(finite.clone()), Ok(finite));
        for (months, days, micros) in [
            (i32::MAX, i32::MAX, i64::MAX),
            (i32::MIN, i32::MIN, i64::MIN),
        ] {
            let infinite = Value::Interval(tresor_core::Interval {
                months,
                days,
                micros,
            });
            assert!(convert.apply(infinite).is_err());
        }
        assert_eq!(convert.apply(Value::Null), Ok(Value::Null));
    }
}
