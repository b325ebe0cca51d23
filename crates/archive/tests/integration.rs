//! Integration tests of tresor-archive: round trips through both formats,
//! every kind of damage, and streaming a large table.

mod integration {
    mod corruption;
    mod roundtrip;
    mod streaming;
    mod support;
}
