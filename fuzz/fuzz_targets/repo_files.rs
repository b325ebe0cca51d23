//! The parsers of repository files, the first byte choosing which: key
//! files, the config, index files, pack files (header and every blob), the
//! row and column codecs, table-data blobs and snapshot manifests. Each
//! must turn any input into a value or an error, never a panic, a hang or
//! an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tresor_repo::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => fuzzing::key_file(input),
        1 => fuzzing::config(input),
        2 => fuzzing::index(input),
        3 => fuzzing::pack_file(input),
        4 => {
            let _ = tresor_core::codec::decode_row(input);
        }
        5 => {
            if let Some((len, cols)) = input.split_first_chunk::<4>() {
                let raw_len = u32::from_le_bytes(*len) as usize % (1 << 20);
                let _ = tresor_core::codec::columns_to_rows(cols, raw_len);
            }
        }
        6 => {
            if let Ok(data) = tresor_ops::TableData::decode(input) {
                let _ = data.resolved_runs();
            }
        }
        _ => {
            let _ = serde_json::from_slice::<tresor_ops::Snapshot>(input);
        }
    }
});
