//! A 200k-row table streams through both formats without any API holding
//! the table: rows come from a lazy iterator and go out one at a time.

use std::io::BufWriter;

use tresor_archive::{ArchiveFormat, ArchiveReader, ArchiveWriter};
use tresor_core::{DatabaseSchema, Engine, PortableType, TableName, Value};

use super::support::*;

const ROWS: i64 = 200_000;

fn row(i: i64) -> Vec<Value> {
    vec![
        Value::Int(i),
        Value::Text(format!("row number {i}")),
        Value::F64(i as f64 / 3.0),
    ]
}

#[test]
fn large_table_streams() {
    let t = table(
        TableName::qualified("public", "big"),
        "table",
        vec![
            col(
                "id",
                PortableType::Int {
                    bits: 64,
                    unsigned: false,
                },
            ),
            col(
                "label",
                PortableType::Text {
                    max_len: None,
                    fixed: false,
                },
            ),
            col("x", PortableType::Float { bits: 64 }),
        ],
    );
    let s = DatabaseSchema {
        engine: Engine::SQLITE,
        tables: vec![t.clone()],
        objects: vec![],
        settings: Default::default(),
    };
    for format in [ArchiveFormat::Zip, ArchiveFormat::TarZst] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        let out = NoSeek(BufWriter::new(
            std::fs::File::create(&path).expect("create"),
        ));
        let mut w = ArchiveWriter::new(out, format, snapshot_meta(), &s).expect("writer");
        let summary = w.write_table(&t.name, (0..ROWS).map(row)).expect("write");
        assert_eq!(summary.rows, ROWS as u64);
        w.finish().expect("finish");

        let mut r = ArchiveReader::open(&path).expect("open");
        let mut n = 0i64;
        for item in r.read_table(&t.name).expect("read") {
            let got = item.expect("row");
            if n % 50_000 == 0 {
                assert_eq!(got, row(n));
            }
            n += 1;
        }
        assert_eq!(n, ROWS);
        assert_eq!(r.metadata().tables[0].digest, summary.digest);
    }
}
