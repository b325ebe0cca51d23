//! Integration tests against the PostgreSQL server on this machine
//! (127.0.0.1:5432, user postgres, trust auth) and, for restores across
//! majors, throwaway servers of PostgreSQL 12, 16 and 18 (installed by
//! `bash .ci/services`). Each test makes its own `tresor_test_*`
//! databases and drops them at the end.

mod integration {
    mod common;
    mod conformance;
    mod consistency;
    mod large_objects;
    mod predicate;
    mod restore;
    mod roundtrip;
    mod security;
    mod versions;
}
