//! An export archive (ZIP or tar.zst, as uploaded to the server or given
//! to `tresor import` / `restore --from-archive`): open it, validate it and
//! read every table. Anything but a panic, a hang or a memory blow-up is
//! a pass: a hostile archive may only be refused.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use tresor_archive::{ArchiveReader, ReadLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    // the server's limits, scaled down: a line of 1 MiB, 64 MiB inflated
    let limits = ReadLimits {
        max_line_bytes: 1 << 20,
        max_inflated_bytes: Some(64 << 20),
        max_inflation_ratio: Some(1000),
    };
    let Ok(mut reader) = ArchiveReader::open_with_limits(file.path(), limits) else {
        return;
    };
    let _ = reader.validate();
    let names: Vec<_> = reader
        .metadata()
        .tables
        .iter()
        .map(|t| t.name.clone())
        .collect();
    for name in names {
        if let Ok(rows) = reader.read_table(&name) {
            for row in rows {
                let _ = row;
            }
        }
    }
});
