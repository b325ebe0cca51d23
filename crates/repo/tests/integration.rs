//! Integration tests of tresor-repo: a storage conformance suite that runs
//! every scenario against memory and local-directory storage.

#![allow(clippy::unwrap_used)]

mod integration {
    mod conformance;
    mod support;
}
