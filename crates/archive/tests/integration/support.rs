//! Shared fixtures: schemas, rows, value strategies, and archive rewriting
//! for corruption tests.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tresor_archive::{ArchiveFormat, ArchiveWriter};
use tresor_core::{
    Array, ArrayDim, Column, DatabaseSchema, Date, Engine, Generated, Interval, PortableType,
    RowKey, TableName, TableSchema, Time, Timestamp, Value,
};

/// A `Write` that cannot seek, like an HTTP response body.
pub struct NoSeek<W>(pub W);

impl<W: Write> Write for NoSeek<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

pub fn table(name: TableName, kind: &str, columns: Vec<Column>) -> TableSchema {
    let first = columns.first().map(|c| c.name.clone()).unwrap_or_default();
    TableSchema {
        name,
        kind: kind.into(),
        columns,
        primary_key: vec![first.clone()],
        row_key: RowKey::Columns {
            columns: vec![first],
        },
        constraints: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        ddl: None,
        auto_increment: None,
        comment: None,
        extra: Default::default(),
    }
}

pub fn col(name: &str, portable: PortableType) -> Column {
    Column::new(name, "t", portable)
}

/// One column per value kind, plus a generated column that rows skip.
pub fn every_kind_table() -> TableSchema {
    let mut cols: Vec<Column> = [
        "null",
        "bool",
        "int",
        "uint",
        "f32",
        "f64",
        "decimal",
        "text",
        "rawtext",
        "bytes",
        "bits",
        "date",
        "time",
        "timetz",
        "timestamp",
        "timestamptz",
        "interval",
        "uuid",
        "json",
        "enum",
        "array",
        "document",
        "other",
    ]
    .iter()
    .map(|n| col(n, PortableType::Dynamic))
    .collect();
    let mut g = col("generated", PortableType::Dynamic);
    g.generated = Some(Generated {
        expression: "int + 1".into(),
        stored: true,
    });
    cols.insert(3, g);
    table(TableName::qualified("public", "every_kind"), "table", cols)
}

pub fn bson_doc(i: i64) -> Vec<u8> {
    use bson::{Binary, Bson, Regex, doc, spec::BinarySubtype};
    doc! {
        "_id": i,
        "name": format!("doc {i}"),
        "nan": f64::NAN,
        "neg0": -0.0f64,
        "dec": Bson::Decimal128("1.50".parse().expect("dec")),
        "bin": Binary { subtype: BinarySubtype::Uuid, bytes: vec![1; 16] },
        "re": Regex { pattern: "^x".try_into().expect("cstr"), options: "i".try_into().expect("cstr") },
        "ts": bson::Timestamp { time: 1, increment: 2 },
        "min": Bson::MinKey,
        "nested": {"a": [1, 2, {"b": Bson::Null}]},
    }
    .to_vec()
    .expect("bson")
}

pub fn every_kind_row(i: i64) -> Vec<Value> {
    vec![
        Value::Null,
        Value::Bool(i % 2 == 0),
        Value::Int(i),
        Value::UInt(u64::MAX - i as u64),
        Value::F32(f32::from_bits(0x7fc0_0001)),
        Value::F64(-0.0),
        Value::Decimal("1.50".into()),
        Value::Text(format!("text {i} \u{0} \n \"quoted\" é")),
        Value::RawText(vec![0xff, 0xfe, b'a']),
        Value::Bytes(vec![0, 1, 2, 255]),
        Value::Bits {
            len: 4,
            bytes: vec![0x50],
        },
        Value::Date(Date::ymd(0, 0, 0)),
        Value::Time(Time {
            micros: -3_020_399_500_000,
        }),
        Value::TimeTz {
            time: Time::hms(10, 0, 0, 5),
            offset_secs: 3600,
        },
        Value::Timestamp(Timestamp {
            date: Date::Infinity,
            micros: 0,
        }),
        Value::TimestampTz(Timestamp::from_unix_micros(1_706_695_200_500_000)),
        Value::Interval(Interval {
            months: 1,
            days: 2,
            micros: 3,
        }),
        Value::Uuid([0xab; 16]),
        Value::Json(r#"{"b": 1,  "a": [true]}"#.into()),
        Value::Enum("happy".into()),
        Value::Array(Box::new(Array {
            dims: vec![ArrayDim { len: 2, lower: 0 }, ArrayDim { len: 1, lower: 1 }],
            elements: vec![Value::Int(1), Value::Null],
        })),
        Value::Document(bson_doc(i)),
        Value::Other {
            type_name: "tsvector".into(),
            text: "'a':1".into(),
        },
    ]
}

pub fn collection_table() -> TableSchema {
    table(
        TableName::new("events"),
        "collection",
        vec![col("document", PortableType::Document)],
    )
}

/// A schema with several tables: every value kind, names that collide
/// and names that need escaping, a MongoDB-style collection, an empty
/// table.
pub fn schema() -> DatabaseSchema {
    let int = PortableType::Int {
        bits: 64,
        unsigned: false,
    };
    let text = PortableType::Text {
        max_len: None,
        fixed: false,
    };
    DatabaseSchema {
        engine: Engine::POSTGRES,
        tables: vec![
            every_kind_table(),
            table(
                TableName::qualified("public", "users"),
                "table",
                vec![col("id", int.clone()), col("name", text.clone())],
            ),
            table(
                TableName::qualified("public", "Users"),
                "table",
                vec![col("id", int.clone()), col("name", text)],
            ),
            table(
                TableName::qualified("../..", "a/b\\c\n"),
                "table",
                vec![col("id", int.clone())],
            ),
            table(
                TableName::new("x".repeat(180)),
                "table",
                vec![col("id", int.clone())],
            ),
            collection_table(),
            table(TableName::new("empty"), "table", vec![col("id", int)]),
        ],
        objects: vec![],
        settings: Default::default(),
    }
}

/// Rows for each table of [`schema`].
pub fn rows_for(t: &TableSchema, n: i64) -> Vec<Vec<Value>> {
    if t.name.name == "empty" {
        return vec![];
    }
    (0..n)
        .map(|i| match t.name.name.as_str() {
            "every_kind" => every_kind_row(i),
            "users" | "Users" => vec![Value::Int(i), Value::Text(format!("user {i}"))],
            "events" => vec![Value::Document(bson_doc(i))],
            _ => vec![Value::Int(i)],
        })
        .collect()
}

pub fn snapshot_meta() -> serde_json::Value {
    serde_json::json!({
        "id": "0123abcd",
        "time": "2024-01-31T10:00:00Z",
        "source": "postgres://app:secret@db.example/app",
        "engine": "postgres",
        "server_version": "15.4",
        "tags": ["nightly"],
        "reason": "manual",
    })
}

/// Writes the [`schema`] archive with `n` rows per table.
pub fn write_archive(dir: &Path, format: ArchiveFormat, n: i64) -> PathBuf {
    let path = dir.join(format!("export.{}", format.extension()));
    let file = std::fs::File::create(&path).expect("create");
    let s = schema();
    let mut w = ArchiveWriter::new(NoSeek(file), format, snapshot_meta(), &s).expect("writer");
    for t in &s.tables {
        w.write_table(&t.name, rows_for(t, n)).expect("table");
    }
    w.finish().expect("finish");
    path
}

/// The files of an archive, in order.
pub fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("read");
    if bytes.starts_with(b"PK") {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).expect("entry");
                let mut data = Vec::new();
                f.read_to_end(&mut data).expect("data");
                (f.name().expect("name").to_string(), data)
            })
            .collect()
    } else {
        let dec = zstd::Decoder::new(Cursor::new(bytes)).expect("zstd");
        let mut a = tar::Archive::new(dec);
        a.entries()
            .expect("entries")
            .map(|e| {
                let mut e = e.expect("entry");
                let name = e.path().expect("path").to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("data");
                (name, data)
            })
            .collect()
    }
}

/// Writes `files` as an archive of `format` at `path` (names taken
/// verbatim, so tests can plant unsafe ones).
pub fn build(path: &Path, format: ArchiveFormat, files: &[(String, Vec<u8>)]) {
    let out = std::fs::File::create(path).expect("create");
    match format {
        ArchiveFormat::Zip => {
            let mut z = zip::ZipWriter::new(out);
            for (name, data) in files {
                z.start_file(
                    name.as_str(),
                    zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Deflated),
                )
                .expect("start");
                z.write_all(data).expect("write");
            }
            z.finish().expect("finish");
        }
        _ => {
            let enc = zstd::Encoder::new(out, 3).expect("zstd").auto_finish();
            let mut b = tar::Builder::new(enc);
            for (name, data) in files {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                if name.len() > 100 {
                    b.append_data(&mut h, name, data.as_slice())
                        .expect("append");
                    continue;
                }
                // write the name bytes raw, so "../x" survives
                let raw = &mut h.as_old_mut().name;
                raw.fill(0);
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, data.as_slice()).expect("append");
            }
            b.finish().expect("finish");
        }
    }
}

/// Rewrites the archive at `path` after `edit` changed its files.
pub fn rewrite(path: &Path, format: ArchiveFormat, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
    let mut files = entries(path);
    edit(&mut files);
    build(path, format, &files);
}

pub fn file_of<'a>(files: &'a mut [(String, Vec<u8>)], prefix: &str) -> &'a mut Vec<u8> {
    &mut files
        .iter_mut()
        .find(|(n, _)| n.starts_with(prefix))
        .expect("file")
        .1
}

fn any_date() -> impl Strategy<Value = Date> {
    prop_oneof![
        Just(Date::Infinity),
        Just(Date::NegInfinity),
        (any::<i32>(), 0u8..=12, 0u8..=31).prop_map(|(year, month, day)| Date::Ymd {
            year,
            month,
            day
        }),
    ]
}

/// Any value (the codec tests' strategy, with real BSON documents too).
pub fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<u32>().prop_map(|b| Value::F32(f32::from_bits(b))),
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
        "-?[0-9]{1,40}(\\.[0-9]{0,30})?".prop_map(Value::Decimal),
        ".*".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::RawText),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Bytes),
        (0u32..40).prop_flat_map(|len| {
            proptest::collection::vec(any::<u8>(), len.div_ceil(8) as usize)
                .prop_map(move |bytes| Value::Bits { len, bytes })
        }),
        any_date().prop_map(Value::Date),
        any::<i64>().prop_map(|micros| Value::Time(Time { micros })),
        (any::<i64>(), any::<i32>()).prop_map(|(micros, offset_secs)| Value::TimeTz {
            time: Time { micros },
            offset_secs
        }),
        (any_date(), 0i64..86_400_000_000)
            .prop_map(|(date, micros)| Value::Timestamp(Timestamp { date, micros })),
        (any_date(), 0i64..86_400_000_000)
            .prop_map(|(date, micros)| Value::TimestampTz(Timestamp { date, micros })),
        (any::<i32>(), any::<i32>(), any::<i64>()).prop_map(|(months, days, micros)| {
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        }),
        any::<[u8; 16]>().prop_map(Value::Uuid),
        ".*".prop_map(Value::Json),
        "[a-z ]*".prop_map(Value::Enum),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Document),
        any::<i64>().prop_map(|i| Value::Document(bson_doc(i))),
        ("[a-z]+", ".*").prop_map(|(type_name, text)| Value::Other { type_name, text }),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        (proptest::collection::vec(inner, 0..6), -3i32..3).prop_map(|(elements, lower)| {
            let mut a = Array::list(elements);
            if let Some(d) = a.dims.first_mut() {
                d.lower = lower;
            }
            Value::Array(Box::new(a))
        })
    })
}
