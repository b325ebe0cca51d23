//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, written by
//! hand from one table of endpoints. Each operation carries
//! `x-tresor-permission` (`public`, `read`, `backup`, `admin`, and
//! `account`: a signed-in person or an admin token, never a read or
//! backup token): the
//! permission it needs, which the authorization matrix test checks
//! against the running server.

use serde_json::{Value, json};

struct Op {
    method: &'static str,
    path: &'static str,
    permission: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    ok: &'static str,
    response: &'static str,
    query: &'static [(&'static str, &'static str)],
}

#[allow(clippy::too_many_arguments)]
const fn op(
    method: &'static str,
    path: &'static str,
    permission: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    ok: &'static str,
    response: &'static str,
) -> Op {
    Op {
        method,
        path,
        permission,
        tag,
        summary,
        body,
        ok,
        response,
        query: &[],
    }
}

const OPS: &[Op] = &[
    op(
        "get",
        "/healthz",
        "public",
        "operations",
        "Liveness: 200 while the server and its state file work; no authentication",
        None,
        "200",
        "Health",
    ),
    op(
        "get",
        "/metrics",
        "read",
        "operations",
        "Prometheus metrics (text format)",
        None,
        "200",
        "Text",
    ),
    op(
        "get",
        "/api/v1/openapi.json",
        "read",
        "operations",
        "This document",
        None,
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/status",
        "read",
        "status",
        "Server, repository and per-source status: last backup, next run, health",
        None,
        "200",
        "Status",
    ),
    Op {
        query: &[
            ("source", "source name or URL"),
            ("tag", "tag"),
            ("trigger", "manual, scheduled, pre-restore, guard, import"),
            ("since", "RFC 3339 time"),
            ("until", "RFC 3339 time"),
            ("limit", "at most this many (100)"),
        ],
        ..op(
            "get",
            "/api/v1/snapshots",
            "read",
            "snapshots",
            "List snapshots, newest first",
            None,
            "200",
            "SnapshotList",
        )
    },
    op(
        "post",
        "/api/v1/snapshots",
        "backup",
        "snapshots",
        "Take a backup now (starts a job)",
        Some("BackupRequest"),
        "202",
        "JobStarted",
    ),
    op(
        "get",
        "/api/v1/snapshots/{id}",
        "read",
        "snapshots",
        "One snapshot with its tables (id, id prefix, latest or latest:SOURCE)",
        None,
        "200",
        "Snapshot",
    ),
    op(
        "delete",
        "/api/v1/snapshots/{id}",
        "admin",
        "snapshots",
        "Delete a snapshot (its data goes at the next prune); the id must be given with at least 8 characters",
        None,
        "200",
        "Object",
    ),
    Op {
        query: &[
            ("format", "zip (default) or tar.zst"),
            ("tables", "comma-separated table globs"),
            (
                "group",
                "only a table group of the snapshot's source (tables add to it)",
            ),
        ],
        ..op(
            "get",
            "/api/v1/snapshots/{id}/archive",
            "admin",
            "snapshots",
            "Download a snapshot as an export archive (streamed)",
            None,
            "200",
            "Binary",
        )
    },
    op(
        "post",
        "/api/v1/archives",
        "admin",
        "archives",
        "Upload an export archive (raw body; X-File-Name header optional); it is validated completely and previewed. 413 above the upload limit, 422 when damaged",
        Some("Binary"),
        "201",
        "UploadPreview",
    ),
    op(
        "get",
        "/api/v1/archives/{id}",
        "admin",
        "archives",
        "The preview of an upload",
        None,
        "200",
        "UploadPreview",
    ),
    op(
        "post",
        "/api/v1/archives/{id}/import",
        "admin",
        "archives",
        "Import an uploaded archive as a snapshot (starts a job)",
        None,
        "202",
        "JobStarted",
    ),
    op(
        "post",
        "/api/v1/restore/preview",
        "admin",
        "restore",
        "Preview a restore: per-table inserted/updated/deleted counts; nothing changes. Returns the preview id and the confirmation to type",
        Some("PreviewRequest"),
        "200",
        "Preview",
    ),
    op(
        "post",
        "/api/v1/restores",
        "admin",
        "restore",
        "Start a previewed restore; the confirmation must name the target and the snapshot",
        Some("RestoreRequest"),
        "202",
        "JobStarted",
    ),
    op(
        "post",
        "/api/v1/restores/upload",
        "admin",
        "restore",
        "Multipart (backup_file, target, clear_existing_data or mode, tables, group, only_missing, drop_extra_tables, app_version, require_same_app_version, confirm): upload an export archive, check and import it, preview the restore (200); with confirm naming the target, start the restore too (202 with job); require_same_app_version refuses an archive of another application version (400) before importing it",
        None,
        "200",
        "Object",
    ),
    Op {
        query: &[
            ("from", "the older snapshot (id, prefix, latest:SOURCE)"),
            ("to", "the newer snapshot, or live"),
            (
                "source",
                "with to=live: the source to read (default: the snapshot's)",
            ),
            ("tables", "comma-separated table globs"),
            ("where", "a row predicate TABLE: PREDICATE (docs/rows.md)"),
            ("rows", "true to list changed rows (admin)"),
            ("limit", "rows listed at most (100, at most 10000)"),
        ],
        ..op(
            "get",
            "/api/v1/diff",
            "read",
            "rows",
            "What changed between two snapshots, or between a snapshot and the source now: per table, and with rows=true (admin) row by row",
            None,
            "200",
            "Diff",
        )
    },
    op(
        "get",
        "/api/v1/guards",
        "read",
        "rows",
        "Guards, newest first",
        None,
        "200",
        "GuardList",
    ),
    op(
        "post",
        "/api/v1/guards",
        "backup",
        "rows",
        "Take a guard before a risky operation (answers once it is stored)",
        Some("GuardRequest"),
        "201",
        "Guard",
    ),
    op(
        "post",
        "/api/v1/guards/{id}/close",
        "backup",
        "rows",
        "Record the state after the guarded operation, so an undo can tell later changes apart",
        None,
        "200",
        "Guard",
    ),
    op(
        "post",
        "/api/v1/guards/{id}/undo",
        "admin",
        "rows",
        "Undo since a guard: dry_run true answers with the rehearsed preview; otherwise the guard's id typed again in confirm starts a job",
        Some("UndoRequest"),
        "202",
        "JobStarted",
    ),
    op(
        "delete",
        "/api/v1/guards/{id}",
        "admin",
        "rows",
        "Release a guard (and its after-state)",
        None,
        "200",
        "Object",
    ),
    Op {
        query: &[
            (
                "kind",
                "backup, restore, forget, prune, check, drill, import, undo",
            ),
            ("source", "source name"),
            ("state", "queued, running, succeeded, failed, cancelled"),
            ("limit", "at most this many (50)"),
        ],
        ..op(
            "get",
            "/api/v1/jobs",
            "read",
            "jobs",
            "List jobs, newest first",
            None,
            "200",
            "JobList",
        )
    },
    op(
        "get",
        "/api/v1/jobs/{id}",
        "read",
        "jobs",
        "One job with live progress",
        None,
        "200",
        "Job",
    ),
    Op {
        query: &[("after", "only lines after this id")],
        ..op(
            "get",
            "/api/v1/jobs/{id}/logs",
            "read",
            "jobs",
            "A job's log lines",
            None,
            "200",
            "JobLogs",
        )
    },
    op(
        "post",
        "/api/v1/jobs/{id}/cancel",
        "admin",
        "jobs",
        "Cancel a queued or running job (nothing half-done stays)",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/checks",
        "backup",
        "jobs",
        "Check the repository (starts a job)",
        Some("CheckRequest"),
        "202",
        "JobStarted",
    ),
    op(
        "post",
        "/api/v1/drills",
        "backup",
        "jobs",
        "Restore drill: restore a snapshot into a scratch database, verify every table against the snapshot and run the source's assertions (starts a job)",
        Some("DrillRequest"),
        "202",
        "JobStarted",
    ),
    op(
        "post",
        "/api/v1/prune",
        "admin",
        "jobs",
        "Remove data no snapshot references (starts a job)",
        None,
        "202",
        "JobStarted",
    ),
    op(
        "get",
        "/api/v1/offsite",
        "read",
        "jobs",
        "Each offsite repository: where it is, the copies it holds, the snapshots it still lacks, how far behind it is, its last copy job",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/offsite/{name}/copy",
        "backup",
        "jobs",
        "Copy what the offsite repository lacks, then apply its retention (starts a job)",
        None,
        "202",
        "JobStarted",
    ),
    op(
        "post",
        "/api/v1/forget",
        "admin",
        "jobs",
        "Apply retention rules (given, or else each source's rules in force) or remove named snapshots (starts a job)",
        Some("ForgetRequest"),
        "202",
        "JobStarted",
    ),
    Op {
        query: &[("group", "count only this table group's tables")],
        ..op(
            "get",
            "/api/v1/sources/{name}/counts",
            "read",
            "sources",
            "Live row counts per table of a source, or of one of its groups (health check)",
            None,
            "200",
            "Counts",
        )
    },
    op(
        "post",
        "/api/v1/sources/{name}/pause",
        "admin",
        "schedule",
        "Pause a source's schedule",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/sources/{name}/resume",
        "admin",
        "schedule",
        "Resume a source's schedule",
        None,
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/sources/{name}/retention",
        "read",
        "retention",
        "Retention rules: configured, override, effective",
        None,
        "200",
        "Object",
    ),
    op(
        "put",
        "/api/v1/sources/{name}/retention",
        "admin",
        "retention",
        "Override a source's retention rules",
        Some("Retention"),
        "200",
        "Object",
    ),
    op(
        "delete",
        "/api/v1/sources/{name}/retention",
        "admin",
        "retention",
        "Drop the override (back to the config)",
        None,
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/schedule",
        "read",
        "schedule",
        "Every schedule: expressions, time zone, next run, paused",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/scheduler/pause",
        "admin",
        "schedule",
        "Pause every schedule",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/scheduler/resume",
        "admin",
        "schedule",
        "Resume the scheduler",
        None,
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/users",
        "admin",
        "users",
        "List users",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/users",
        "admin",
        "users",
        "Create a user (a random password is generated and returned once when none is given)",
        Some("CreateUser"),
        "201",
        "Object",
    ),
    op(
        "delete",
        "/api/v1/users/{id}",
        "admin",
        "users",
        "Delete a user (not yourself, not the last admin)",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/users/{id}/password",
        "account",
        "users",
        "Change a password (your own; admins: anyone's)",
        Some("SetPassword"),
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/tokens",
        "read",
        "tokens",
        "List tokens (yours; admins: all), never their secrets",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/tokens",
        "account",
        "tokens",
        "Create a token for yourself; the secret is shown once",
        Some("CreateToken"),
        "201",
        "NewToken",
    ),
    op(
        "delete",
        "/api/v1/tokens/{id}",
        "account",
        "tokens",
        "Revoke a token (yours; admins: any)",
        None,
        "200",
        "Object",
    ),
    op(
        "post",
        "/api/v1/auth/token",
        "public",
        "tokens",
        "Exchange a user name and password for a token (for scripts)",
        Some("LoginToken"),
        "201",
        "NewToken",
    ),
    op(
        "get",
        "/api/v1/audit",
        "admin",
        "operations",
        "The audit log, newest first",
        None,
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/notifications",
        "read",
        "operations",
        "Notification deliveries with their state and last error",
        None,
        "200",
        "Object",
    ),
    op(
        "get",
        "/api/v1/settings",
        "read",
        "operations",
        "The configuration in force, without secrets",
        None,
        "200",
        "Object",
    ),
];

fn schemas() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    json!({
        "Error": obj(json!({"error": obj(json!({"message": {"type": "string"}, "hint": {"type": ["string", "null"]}}), &["message"])}), &["error"]),
        "Object": {"type": "object"},
        "Text": {"type": "string"},
        "Binary": {"type": "string", "format": "binary"},
        "Health": obj(json!({"status": {"type": "string", "enum": ["ok", "degraded"]}, "version": {"type": "string"}}), &["status"]),
        "Status": obj(json!({
            "server": {"type": "object"},
            "repository": obj(json!({"location": {"type": "string"}, "snapshots": {"type": "integer"}, "stored_bytes": {"type": ["integer", "null"]}, "logical_bytes": {"type": "integer"}}), &[]),
            "sources": {"type": "array", "items": {"$ref": "#/components/schemas/SourceStatus"}},
        }), &["server", "repository", "sources"]),
        "SourceStatus": obj(json!({
            "name": {"type": "string"}, "url": {"type": "string"}, "engine": {"type": ["string", "null"]},
            "schedule": {"type": "array", "items": {"type": "string"}}, "timezone": {"type": "string"},
            "paused": {"type": "boolean"}, "next_run": {"type": ["string", "null"], "format": "date-time"},
            "health": {"type": "string", "enum": ["ok", "failing", "stale", "never"]},
            "last_backup": {"type": ["object", "null"]}, "last_job": {"type": ["object", "null"]},
            "running_job": {"type": ["integer", "null"]}, "snapshots": {"type": "integer"},
        }), &["name", "health", "paused"]),
        "Snapshot": obj(json!({
            "id": {"type": "string"}, "short_id": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
            "source": {"type": "string"}, "engine": {"type": "string"}, "trigger": {"type": "string"},
            "reason": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}},
            "app_version": {"type": ["string", "null"]},
            "tables": {"type": "integer"}, "rows": {"type": "integer"}, "bytes": {"type": "integer"}, "added_bytes": {"type": "integer"},
            "table_list": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "rows": {"type": "integer"}, "bytes": {"type": "integer"}, "digest": {"type": "string"}}), &["name", "rows"])},
        }), &["id", "time", "source"]),
        "SnapshotList": obj(json!({"total": {"type": "integer"}, "snapshots": {"type": "array", "items": {"$ref": "#/components/schemas/Snapshot"}}}), &["snapshots"]),
        "BackupRequest": obj(json!({"source": {"type": "string"}, "tables": {"type": "array", "items": {"type": "string"}}, "group": {"type": "string"}, "reason": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}, "app_version": {"type": "string"}}), &["source"]),
        "JobStarted": obj(json!({"job": {"type": "integer"}, "href": {"type": "string"}}), &["job"]),
        "Job": obj(json!({
            "id": {"type": "integer"}, "kind": {"type": "string", "enum": ["backup", "restore", "forget", "prune", "check", "drill", "import"]},
            "source": {"type": ["string", "null"]}, "state": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "trigger": {"type": "string"}, "started_by": {"type": "string"}, "attempt": {"type": "integer"},
            "created_at": {"type": "string"}, "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"]}, "hint": {"type": ["string", "null"]}, "figures": {"type": ["object", "null"]},
            "progress": {"type": ["object", "null"], "properties": {"step": {"type": "string"}, "rows": {"type": "integer"}, "bytes": {"type": "integer"}, "tables_started": {"type": "integer"}, "tables_done": {"type": "integer"}}},
        }), &["id", "kind", "state"]),
        "JobList": obj(json!({"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}), &["jobs"]),
        "JobLogs": obj(json!({"job": {"type": "integer"}, "state": {"type": "string"}, "lines": {"type": "array", "items": obj(json!({"id": {"type": "integer"}, "at": {"type": "string"}, "level": {"type": "string"}, "message": {"type": "string"}}), &["id", "message"])}}), &["lines"]),
        "CheckRequest": obj(json!({"read_data": {"type": "boolean"}}), &[]),
        "DrillRequest": obj(json!({"source": {"type": "string"}, "snapshot": {"type": "string"}}), &["source"]),
        "ForgetRequest": obj(json!({"source": {"type": "string"}, "ids": {"type": "array", "items": {"type": "string"}}, "retention": {"$ref": "#/components/schemas/Retention"}}), &[]),
        "Retention": obj(json!({"keep-last": {"type": "integer"}, "keep-hourly": {"type": "integer"}, "keep-daily": {"type": "integer"}, "keep-weekly": {"type": "integer"}, "keep-monthly": {"type": "integer"}, "keep-yearly": {"type": "integer"}, "keep-within": {"type": "string"}, "keep-tags": {"type": "array", "items": {"type": "string"}}}), &[]),
        "PreviewRequest": obj(json!({"snapshot": {"type": "string"}, "target": {"type": "string", "description": "a configured source"}, "mode": {"type": "string", "enum": ["replace", "merge"]}, "tables": {"type": "array", "items": {"type": "string"}}, "group": {"type": "string", "description": "a table group of the snapshot's source (or the target); tables add to it"}, "app_version": {"type": "string", "description": "the application version the target runs (else its app-version in the config)"}, "require_same_app_version": {"type": "boolean"}, "only_missing": {"type": "boolean", "description": "restore only tables missing or empty in the target; the others are listed in skipped"}, "drop_extra_tables": {"type": "boolean", "description": "also drop the tables the target has and the snapshot lacks (listed in dropped), so the database is what the backup held; whole-database restores in replace mode only"}, "where": {"type": "array", "items": {"type": "string"}, "description": "only the rows that match, TABLE: PREDICATE each; merged"}, "with_related": {"type": "boolean", "description": "with where: also the rows that belong to the chosen ones and those they require"}, "with_privileges": {"type": "boolean", "description": "also restore roles, owners, grants and default privileges (PostgreSQL)"}, "strict": {"type": "boolean", "description": "into another engine or an older PostgreSQL: refuse any approximation"}, "lock_wait": {"type": "string", "description": "how long to wait in all for the application to let go of the tables the restore locks, such as 30s (the default) or 2m; 0 does not wait"}}), &["snapshot", "target"]),
        "Preview": obj(json!({
            "preview_id": {"type": "string"}, "snapshot": {"type": "string"}, "target": {"type": "string"}, "mode": {"type": "string"},
            "overwrites_data": {"type": "boolean"},
            "skipped": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "target_rows": {"type": "integer"}}), &["name", "target_rows"])},
            "tables": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "action": {"type": "string"}, "snapshot_rows": {"type": "integer"}, "target_rows": {"type": ["integer", "null"]}, "inserted": {"type": "integer"}, "updated": {"type": "integer"}, "deleted": {"type": "integer"}, "unchanged": {"type": "integer"}}), &["name"])},
            "confirm": obj(json!({"target": {"type": "string"}, "snapshot": {"type": "string"}}), &["target", "snapshot"]),
        }), &["preview_id", "tables", "confirm"]),
        "Diff": obj(json!({"from": {"type": "string"}, "to": {"type": "string"}, "tables": {"type": "array", "items": {"type": "object"}}, "rows": {"type": "array", "items": {"type": "object"}}, "rows_total": {"type": "integer"}}), &["from", "to", "tables"]),
        "Guard": obj(json!({"guard": {"type": "string"}, "short_id": {"type": "string"}, "source": {"type": "string"}, "time": {"type": "string"}, "reason": {"type": ["string", "null"]}, "tables": {"type": "array", "items": {"type": "string"}}, "closed": {"type": "boolean"}}), &["guard", "source", "tables", "closed"]),
        "GuardList": {"type": "array", "items": {"$ref": "#/components/schemas/Guard"}},
        "GuardRequest": obj(json!({"source": {"type": "string"}, "tables": {"type": "array", "items": {"type": "string"}}, "group": {"type": "string"}, "reason": {"type": "string"}}), &["source"]),
        "UndoRequest": obj(json!({"tables": {"type": "array", "items": {"type": "string"}}, "force": {"type": "boolean"}, "dry_run": {"type": "boolean"}, "confirm": {"type": "string", "description": "the guard's id, at least 8 characters"}}), &[]),
        "RestoreRequest": obj(json!({"preview_id": {"type": "string"}, "confirm": obj(json!({"target": {"type": "string"}, "snapshot": {"type": "string", "description": "the snapshot id, at least 8 characters"}}), &["target", "snapshot"])}), &["preview_id", "confirm"]),
        "UploadPreview": obj(json!({"upload": {"type": "string"}, "valid": {"type": "boolean"}, "size": {"type": "integer"}, "snapshot": {"type": "object"}, "tables": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "rows": {"type": "integer"}}), &["name", "rows"])}, "import": {"type": "string"}}), &["upload", "tables"]),
        "Counts": obj(json!({"source": {"type": "string"}, "exists": {"type": "boolean"}, "tables": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "rows": {"type": "integer"}}), &["name", "rows"])}, "total_rows": {"type": "integer"}, "took_ms": {"type": "integer"}}), &["tables"]),
        "CreateUser": obj(json!({"username": {"type": "string", "description": "the login name (as at login; name is accepted too)"}, "role": {"type": "string", "enum": ["admin", "viewer"]}, "password": {"type": "string", "minLength": 10}}), &["username", "role"]),
        "SetPassword": obj(json!({"password": {"type": "string", "minLength": 10}}), &["password"]),
        "CreateToken": obj(json!({"name": {"type": "string"}, "scope": {"type": "string", "enum": ["read", "backup", "admin"]}, "expires_in": {"type": "string", "description": "a duration such as 30d"}}), &["name"]),
        "LoginToken": obj(json!({"username": {"type": "string"}, "password": {"type": "string"}, "code": {"type": "string", "description": "the current one-time code, for users who set one up"}, "name": {"type": "string"}, "scope": {"type": "string"}, "expires_in": {"type": "string"}}), &["username", "password"]),
        "NewToken": obj(json!({"id": {"type": "integer"}, "token": {"type": "string", "description": "shown once"}, "scope": {"type": "string"}, "expires_at": {"type": ["string", "null"]}}), &["id", "token"]),
    })
}

fn content(schema: &str) -> Value {
    match schema {
        "Binary" => {
            json!({"application/octet-stream": {"schema": {"$ref": "#/components/schemas/Binary"}}})
        }
        "Text" => json!({"text/plain": {"schema": {"type": "string"}}}),
        s => json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{s}")}}}),
    }
}

/// The whole document.
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for o in OPS {
        let mut params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(o.query.iter().map(|(name, d)| {
            json!({"name": name, "in": "query", "required": false, "description": d, "schema": {"type": "string"}})
        }));
        let error = json!({"description": "error", "content": content("Error")});
        let mut responses = serde_json::Map::new();
        responses.insert(
            o.ok.into(),
            json!({"description": "success", "content": content(o.response)}),
        );
        responses.insert("400".into(), error.clone());
        if o.permission != "public" {
            responses.insert("401".into(), error.clone());
            responses.insert("403".into(), error.clone());
        }
        responses.insert("404".into(), error.clone());
        if o.path == "/api/v1/archives" {
            responses.insert("413".into(), error.clone());
            responses.insert("422".into(), error.clone());
        }
        let mut operation = json!({
            "summary": o.summary,
            "tags": [o.tag],
            "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
            "x-tresor-permission": o.permission,
        });
        if o.permission == "public" {
            operation["security"] = json!([]);
        }
        if let Some(b) = o.body {
            operation["requestBody"] =
                json!({"required": b != "CheckRequest", "content": content(b)});
        }
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tresor server API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Backups, restores and schedules of the databases this tresor server protects. Authenticate with `Authorization: Bearer TOKEN` (a session cookie also works; then unsafe methods need the X-CSRF-Token header). Errors are `{\"error\": {\"message\", \"hint\"}}`. Permissions: read < backup (viewers) < admin; `account` operations (passwords, tokens) need a session or an admin token; x-tresor-permission names each operation's.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_permission_and_responses() {
        let doc = openapi_document();
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 30, "{}", paths.len());
        for (p, ops) in paths {
            for (m, op) in ops.as_object().expect("ops") {
                assert!(op["x-tresor-permission"].is_string(), "{m} {p}");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
    }

    #[test]
    fn the_preview_request_schema_names_every_field() {
        let every = crate::jobs::RestoreRequest {
            snapshot: "latest".into(),
            target: "app".into(),
            mode: tresor_core::RestoreMode::Merge,
            tables: vec!["users".into()],
            filters: vec!["users: id = 1".into()],
            with_related: true,
            group: Some("user-data".into()),
            only_missing: true,
            drop_extra_tables: true,
            app_version: Some("1.0".into()),
            require_same_app_version: true,
            with_privileges: true,
            strict: true,
            lock_wait: Some("1m".into()),
        };
        let sent = serde_json::to_value(&every).expect("json");
        let doc = openapi_document();
        let schema = &doc["components"]["schemas"]["PreviewRequest"]["properties"];
        for field in sent.as_object().expect("an object").keys() {
            assert!(
                schema[field].is_object(),
                "PreviewRequest.{field} is not documented"
            );
        }
    }
}
