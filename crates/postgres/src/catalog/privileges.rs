//! Grants, default privileges and the roles they name (restored only on
//! request).

use std::collections::{BTreeSet, HashSet};

use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, object, rows};
use crate::error::pg_error;

/// `GRANT`s on the relations backed up (every one in a whole-database
/// backup), schemas and functions, the default privileges of a
/// whole-database backup, and the roles they name.
pub(super) async fn grants(
    client: &Client,
    whole: bool,
    selected: &HashSet<u32>,
    view_oids: &[u32],
) -> Result<(Vec<SchemaObject>, BTreeSet<String>), SourceError> {
    let mut grant_objects = Vec::new();
    let mut roles: BTreeSet<String> = BTreeSet::new();
    for r in rows(client, &format!(
        "SELECT pg_catalog.format('GRANT %s ON %s %I.%I TO %s%s', a.privilege_type, \
                CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, n.nspname, c.relname, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, c.oid \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, \
              pg_catalog.aclexplode(c.relacl) a \
         WHERE c.relacl IS NOT NULL AND a.grantee <> c.relowner AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND {USER_NS} \
         UNION ALL \
         SELECT pg_catalog.format('GRANT %s ON SCHEMA %I TO %s%s', a.privilege_type, n.nspname, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, NULL \
         FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a \
         WHERE n.nspacl IS NOT NULL AND a.grantee <> n.nspowner AND {USER_NS} \
         UNION ALL \
         SELECT pg_catalog.format('GRANT %s ON %s %I.%I(%s) TO %s%s', a.privilege_type, \
                CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, n.nspname, p.proname, \
                pg_catalog.pg_get_function_identity_arguments(p.oid), \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, NULL \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace, pg_catalog.aclexplode(p.proacl) a \
         WHERE p.proacl IS NOT NULL AND a.grantee <> p.proowner AND p.prokind IN ('f', 'p') AND {USER_NS}"
    ))
    .await?
    {
        let rel: Option<u32> = r.get(2);
        if let Some(o) = rel
            && !(selected.contains(&o) || view_oids.contains(&o) || whole) {
                continue;
            }
        if let Some(role) = r.get::<_, Option<String>>(1) {
            roles.insert(role);
        }
        grant_objects.push(object("grant", None, String::new(), r.get(0)));
    }
    // default privileges (grants only, as above), of a whole-database backup
    if whole {
        for r in rows(client, &format!(
            "SELECT pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s GRANT %s ON %s TO %s%s', \
                    pg_catalog.pg_get_userbyid(d.defaclrole), \
                    CASE WHEN d.defaclnamespace = 0 THEN '' ELSE pg_catalog.format(' IN SCHEMA %I', n.nspname) END, \
                    a.privilege_type, \
                    CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' \
                      WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END, \
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                    CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                    pg_catalog.pg_get_userbyid(d.defaclrole), \
                    CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END \
             FROM pg_catalog.pg_default_acl d \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace, \
             pg_catalog.aclexplode(d.defaclacl) a \
             WHERE a.grantee <> d.defaclrole AND (d.defaclnamespace = 0 OR {USER_NS}) \
             ORDER BY d.oid, a.grantee, a.privilege_type"
        ))
        .await?
        {
            roles.insert(r.get(1));
            if let Some(role) = r.get::<_, Option<String>>(2) {
                roles.insert(role);
            }
            grant_objects.push(object("grant", None, String::new(), r.get(0)));
        }
    }
    Ok((grant_objects, roles))
}

/// `CREATE ROLE` of the roles `roles` (not the built-in `pg_` ones).
pub(super) async fn roles(
    client: &Client,
    roles: BTreeSet<String>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let role_list: Vec<String> = roles.into_iter().collect();
    let mut role_objects = Vec::new();
    for r in client
        .query(
            "SELECT rolname, pg_catalog.format('CREATE ROLE %I WITH %sLOGIN %sSUPERUSER %sCREATEDB %sCREATEROLE %sINHERIT %sREPLICATION %sBYPASSRLS', \
                    rolname, CASE WHEN rolcanlogin THEN '' ELSE 'NO' END, CASE WHEN rolsuper THEN '' ELSE 'NO' END, \
                    CASE WHEN rolcreatedb THEN '' ELSE 'NO' END, CASE WHEN rolcreaterole THEN '' ELSE 'NO' END, \
                    CASE WHEN rolinherit THEN '' ELSE 'NO' END, CASE WHEN rolreplication THEN '' ELSE 'NO' END, \
                    CASE WHEN rolbypassrls THEN '' ELSE 'NO' END) \
             FROM pg_catalog.pg_roles WHERE rolname = ANY($1) AND rolname !~ '^pg_' ORDER BY oid",
            &[&role_list],
        )
        .await
        .map_err(|e| pg_error("cannot read roles", e))?
    {
        role_objects.push(object("role", None, r.get(0), r.get(1)));
    }
    Ok(role_objects)
}
