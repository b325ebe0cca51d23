//! Everything written comes back exactly, through both formats.

use proptest::prelude::*;
use tresor_archive::{
    ArchiveFormat, ArchiveReader, ArchiveWriter, FORMAT_VERSION, RowEncoding, WriterOptions,
};
use tresor_core::codec::{TableDigest, encode_row};
use tresor_core::{DatabaseSchema, Engine, PortableType, TableName, TableSchema, Value, rows_same};

use super::support::*;

fn round_trip(format: ArchiveFormat) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_archive(dir.path(), format, 25);
    let mut r = ArchiveReader::open(&path).expect("open");
    assert_eq!(r.format(), format);
    let meta = r.metadata().clone();
    assert_eq!(meta.version, FORMAT_VERSION);
    assert_eq!(meta.format, "tresor-archive");
    assert_eq!(
        meta.snapshot["source"], "postgres://app:***@db.example/app",
        "the source url is redacted"
    );
    assert_eq!(meta.schema, schema());
    let files: Vec<&str> = meta.tables.iter().map(|t| t.file.as_str()).collect();
    assert_eq!(files[0], "tables/public.every_kind.jsonl");
    assert_eq!(files[1], "tables/public.users.jsonl");
    assert_eq!(files[2], "tables/public.Users~2.jsonl");
    assert_eq!(files[3], "tables/%2E%2E%2F.%2E.a%2Fb%5Cc%0A.jsonl");
    assert_eq!(meta.tables[5].encoding, RowEncoding::ExtJson);
    for t in &schema().tables {
        let want = rows_for(t, 25);
        let entry = meta
            .tables
            .iter()
            .find(|e| e.name == t.name)
            .expect("entry");
        let mut digest = TableDigest::new();
        let mut buf = Vec::new();
        for row in &want {
            buf.clear();
            encode_row(row, &mut buf);
            digest.update(&buf);
        }
        assert_eq!(entry.digest, digest.finish(), "{}", t.name);
        assert_eq!(entry.rows, want.len() as u64);
        let got: Vec<_> = r
            .read_table(&t.name)
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(got.len(), want.len(), "{}", t.name);
        for (a, b) in got.iter().zip(&want) {
            assert!(rows_same(a, b), "{}: {a:?} != {b:?}", t.name);
        }
    }
    let report = r.validate();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.tables.len(), schema().tables.len());
}

#[test]
fn zip_round_trip() {
    round_trip(ArchiveFormat::Zip);
}

#[test]
fn tar_zst_round_trip() {
    round_trip(ArchiveFormat::TarZst);
}

#[test]
fn metadata_is_last_and_collections_are_plain_extended_json() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::TarZst] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 2);
        let files = entries(&path);
        assert_eq!(files.last().map(|f| f.0.as_str()), Some("metadata.json"));
        let events = files
            .iter()
            .find(|f| f.0 == "tables/events.jsonl")
            .expect("events");
        let first = std::str::from_utf8(&events.1)
            .expect("utf8")
            .lines()
            .next()
            .expect("line");
        assert!(
            first.starts_with(
                r#"{"_id":{"$numberLong":"0"},"name":"doc 0","nan":{"$numberDouble":"NaN"}"#
            ),
            "{first}"
        );
        let users = files
            .iter()
            .find(|f| f.0 == "tables/public.users.jsonl")
            .expect("users");
        assert_eq!(
            std::str::from_utf8(&users.1).expect("utf8"),
            "{\"id\":0,\"name\":\"user 0\"}\n{\"id\":1,\"name\":\"user 1\"}\n"
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&files.last().expect("meta").1).expect("json");
        assert_eq!(
            meta["tables"][1]["name"],
            serde_json::json!({"schema": "public", "name": "users"})
        );
    }
}

#[test]
fn tables_read_out_of_order_and_partially() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_archive(dir.path(), ArchiveFormat::TarZst, 10);
    let mut r = ArchiveReader::open(&path).expect("open");
    let events = TableName::new("events");
    let users = TableName::qualified("public", "users");
    // stop early, then go backwards, then forwards
    let first = r.read_table(&events).expect("read").next().expect("row");
    assert!(first.is_ok());
    let n = r.read_table(&users).expect("read").count();
    assert_eq!(n, 10);
    let n = r
        .read_table(&events)
        .expect("read")
        .filter(Result::is_ok)
        .count();
    assert_eq!(n, 10);
}

#[test]
fn writer_misuse_is_an_error() {
    let s = schema();
    let mut w =
        ArchiveWriter::new(Vec::new(), ArchiveFormat::Zip, snapshot_meta(), &s).expect("writer");
    assert!(w.push_row(&[]).is_err());
    assert!(w.begin_table(&TableName::new("nope")).is_err());
    w.begin_table(&TableName::new("empty")).expect("begin");
    assert!(w.begin_table(&TableName::new("empty")).is_err());
    assert!(w.push_row(&[]).is_err(), "wrong number of values");
    w.end_table().expect("end");
    assert!(
        w.begin_table(&TableName::new("empty")).is_err(),
        "written twice"
    );
    w.begin_table(&TableName::new("events")).expect("begin");
    let e = w
        .push_row(&[tresor_core::Value::Int(1)])
        .expect_err("not a document");
    assert!(e.to_string().contains("document"), "{e}");
    w.end_table().expect("end");
    assert!(w.finish().is_err(), "tables left unwritten");
    assert!(ArchiveWriter::new(Vec::new(), ArchiveFormat::Zip, serde_json::json!(1), &s).is_err());
}

#[test]
fn options_are_recorded() {
    let s = DatabaseSchema {
        engine: Engine::SQLITE,
        tables: vec![],
        objects: vec![],
        settings: Default::default(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.tar.zst");
    let options = WriterOptions {
        tresor_version: "9.9.9".into(),
        created_at: Some("2024-01-31T10:00:00Z".parse().expect("time")),
        temp_dir: Some(dir.path().to_path_buf()),
        zstd_level: 1,
    };
    let w = ArchiveWriter::with_options(
        std::fs::File::create(&path).expect("create"),
        ArchiveFormat::from_file_name("a.tar.zst"),
        serde_json::json!({}),
        &s,
        options,
    )
    .expect("writer");
    w.finish().expect("finish");
    let r = ArchiveReader::open(&path).expect("open");
    assert_eq!(r.metadata().tresor_version, "9.9.9");
    assert_eq!(r.metadata().created_at, "2024-01-31T10:00:00.000000Z");
    assert_eq!(r.format(), ArchiveFormat::TarZst);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_rows_round_trip(
        rows in proptest::collection::vec(proptest::collection::vec(any_value(), 3), 0..30),
        tar in any::<bool>(),
    ) {
        let t = table(
            TableName::new("dynamic"),
            "table",
            vec![col("a", PortableType::Dynamic), col("b", PortableType::Dynamic), col("c", PortableType::Dynamic)],
        );
        let s = DatabaseSchema { engine: Engine::SQLITE, tables: vec![t.clone()], objects: vec![], settings: Default::default() };
        let format = if tar { ArchiveFormat::TarZst } else { ArchiveFormat::Zip };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p");
        let mut w = ArchiveWriter::new(NoSeek(std::fs::File::create(&path).expect("create")), format, snapshot_meta(), &s).expect("writer");
        w.write_table(&t.name, rows.clone()).expect("write");
        w.finish().expect("finish");
        let mut r = ArchiveReader::open(&path).expect("open");
        let got: Vec<_> = r.read_table(&t.name).expect("read").collect::<Result<_, _>>().expect("rows");
        prop_assert_eq!(got.len(), rows.len());
        for (a, b) in got.iter().zip(&rows) {
            prop_assert!(rows_same(a, b), "{:?} != {:?}", a, b);
        }
    }
}

/// A collection as the MongoDB engine describes it: the `_id` key column
/// and the document.
fn mongo_collection() -> TableSchema {
    let mut t = table(
        TableName::new("wines"),
        "collection",
        vec![
            col("_id", PortableType::Dynamic),
            col("document", PortableType::Document),
        ],
    );
    t.primary_key = vec!["_id".into()];
    t.row_key = tresor_core::RowKey::Columns {
        columns: vec!["_id".into()],
    };
    t
}

/// Each line of an exported collection is the document in canonical
/// Extended JSON, as `mongoexport` writes it: MongoDB's own bson crate
/// reads every line back to the very document; the archive reader derives
/// the `_id` key from it again.
#[test]
fn collections_export_as_mongoexport_lines_and_come_back_whole() {
    use bson::{Bson, DateTime, Decimal128, doc, oid::ObjectId};
    let ids: Vec<Bson> = vec![
        Bson::ObjectId(ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").expect("oid")),
        Bson::String("riesling-2019".into()),
        Bson::Int32(7),
        Bson::Int64(1 << 40),
        Bson::Double(2.5),
        Bson::DateTime(DateTime::from_millis(1_700_000_000_000)),
        Bson::Document(doc! {"user": "u1", "n": 2}),
    ];
    let docs: Vec<Vec<u8>> = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let d = doc! {
                "_id": id,
                "name": format!("Spätlese {i}"),
                "price": Decimal128::from_bytes([1; 16]),
                "vintage": 2019_i32,
                "tags": ["white", "sweet"],
                "added": DateTime::from_millis(1_600_000_000_000 + i as i64),
            };
            d.to_vec().expect("bson")
        })
        .collect();
    let t = mongo_collection();
    let rows: Vec<Vec<Value>> = docs
        .iter()
        .map(|d| {
            vec![
                tresor_core::document_key(d).expect("key"),
                Value::Document(d.clone()),
            ]
        })
        .collect();
    let s = DatabaseSchema {
        engine: Engine::MONGODB,
        tables: vec![t.clone()],
        objects: vec![],
        settings: Default::default(),
    };
    for format in [ArchiveFormat::Zip, ArchiveFormat::TarZst] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("export");
        let mut w = ArchiveWriter::new(
            NoSeek(std::fs::File::create(&path).expect("create")),
            format,
            snapshot_meta(),
            &s,
        )
        .expect("writer");
        w.write_table(&t.name, rows.clone()).expect("write");
        w.finish().expect("finish");

        let files = entries(&path);
        let wines = files
            .iter()
            .find(|f| f.0 == "tables/wines.jsonl")
            .expect("the collection's file");
        let text = std::str::from_utf8(&wines.1).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), docs.len());
        assert!(
            lines[0]
                .starts_with(r#"{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"name":"Spätlese 0""#),
            "{}",
            lines[0]
        );
        for (line, original) in lines.iter().zip(&docs) {
            assert!(
                !line.contains("$bytes") && !line.contains("$doc\""),
                "{line}"
            );
            let json: serde_json::Value = serde_json::from_str(line).expect("json");
            let Bson::Document(back) = Bson::try_from(json).expect("extended json") else {
                panic!("not a document: {line}");
            };
            assert_eq!(&back.to_vec().expect("bson"), original, "{line}");
        }

        let mut r = ArchiveReader::open(&path).expect("open");
        let got: Vec<_> = r
            .read_table(&t.name)
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(got, rows);
    }
}
