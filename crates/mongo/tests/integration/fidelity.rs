//! Every BSON type, collection options, indexes and views survive a
//! backup and a restore: into an empty database, and merged into an
//! existing one, compared document by document (raw bytes) and index by
//! index.

use std::cmp::Ordering;

use anyhow::{Context, ensure};
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::raw::{RawDocumentBuf, cstr};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{
    Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp, doc,
};
use tokio::sync::mpsc;
use tresor_core::{
    BATCH_ROWS, Connector, ReadOptions, RestoreMode, TableFilter, TableName, Value, compare_keys,
};
use tresor_mongo::MongoConnector;

use super::common::{definitions_agree, raw_docs, same_definitions, schema_of, unique_name};
use super::server::TestServer;

fn binary(subtype: BinarySubtype, bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype,
        bytes: bytes.to_vec(),
    })
}

fn cs(s: &str) -> mongodb::bson::raw::CString {
    mongodb::bson::raw::CString::try_from(s).expect("cstring")
}

fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse::<Decimal128>().expect("decimal"))
}

/// A document nested `depth` levels deep, arrays and documents in turn.
fn nested(depth: usize) -> Bson {
    let mut v = Bson::String("bottom".into());
    for i in 0..depth {
        v = if i % 2 == 0 {
            Bson::Array(vec![Bson::Int32(i as i32), v])
        } else {
            Bson::Document(doc! { "z": i as i32, "a": v, "m": Bson::Null })
        };
    }
    v
}

/// Documents holding every BSON type (the ones SecantusDB stores; a real
/// mongod gets the deprecated types and extreme dates too).
fn every_type(real: bool) -> Vec<RawDocumentBuf> {
    let mut docs: Vec<Document> = vec![
        doc! { "_id": 1, "what": "doubles", "nan": f64::NAN, "pinf": f64::INFINITY, "ninf": f64::NEG_INFINITY,
        "negzero": -0.0f64, "tiny": f64::MIN_POSITIVE, "max": f64::MAX, "pi": std::f64::consts::PI },
        doc! { "_id": 2, "what": "strings", "empty": "", "unicode": "Zoë ☃ 𝄞 \u{7f}", "long": "x".repeat(10_000) },
        doc! { "_id": 3, "what": "nesting", "z": 1, "a": 2, "m": 3, "deep": nested(60), "empty_doc": {}, "empty_arr": [] },
        doc! { "_id": 4, "what": "binary",
        "generic": binary(BinarySubtype::Generic, b"\x00\x01\xff"),
        "function": binary(BinarySubtype::Function, b"fn"),
        "old": binary(BinarySubtype::BinaryOld, b"old binary"),
        "uuid_old": binary(BinarySubtype::UuidOld, &[7u8; 16]),
        "uuid": binary(BinarySubtype::Uuid, &[9u8; 16]),
        "md5": binary(BinarySubtype::Md5, &[5u8; 16]),
        "encrypted": binary(BinarySubtype::Encrypted, b"\x01cipher"),
        "user": binary(BinarySubtype::UserDefined(0x80), b"mine"),
        "user_ff": binary(BinarySubtype::UserDefined(0xff), b""),
        "empty": binary(BinarySubtype::Generic, b"") },
        doc! { "_id": 5, "what": "scalars", "oid": ObjectId::from_bytes([1; 12]), "t": true, "f": false,
        "null": Bson::Null, "i32min": i32::MIN, "i32max": i32::MAX, "i64min": i64::MIN, "i64max": i64::MAX,
        "ts": Timestamp { time: u32::MAX, increment: 7 }, "ts0": Timestamp { time: 0, increment: 0 },
        "min": Bson::MinKey, "max": Bson::MaxKey },
        doc! { "_id": 6, "what": "dates", "before1970": DateTime::from_millis(-1),
        "year1": DateTime::from_millis(-62_135_596_800_000),
        "year9999": DateTime::from_millis(253_402_300_799_999), "epoch": DateTime::from_millis(0) },
        doc! { "_id": 7, "what": "regex and code",
        "re": Regex { pattern: cs("^a.*b$"), options: cs("imsx") },
        "re_plain": Regex { pattern: cs("x"), options: cs("") },
        "code": Bson::JavaScriptCode("function () { return 1; }".into()),
        "scoped": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: "function () { return x; }".into(), scope: doc! { "x": 1, "y": [1, 2] } }) },
        doc! { "_id": 8, "what": "decimal", "d": dec("1.50"), "e": dec("1.50E+3"), "negzero": dec("-0"),
        "nan": dec("NaN"), "inf": dec("-Infinity"), "big": dec("9.999999999999999999999999999999999E+6144"),
        "small": dec("1E-6176") },
        doc! { "_id": 9, "what": "arrays", "a": [1, "two", 3.5, Bson::Null, [[], [[1]]], { "k": [] }] },
    ];
    if real {
        docs.push(doc! { "_id": 10, "what": "extreme dates",
            "min": DateTime::from_millis(i64::MIN), "max": DateTime::from_millis(i64::MAX),
            "year0": DateTime::from_millis(-62_135_596_800_001), "far": DateTime::from_millis(2_534_023_008_000_000) });
        docs.push(doc! { "_id": 11, "what": "deprecated", "undef": Bson::Undefined, "sym": Bson::Symbol("s".into()),
            "ptr": Bson::DbPointer(dbpointer()) });
    }
    let mut raw: Vec<RawDocumentBuf> = docs
        .iter()
        .map(|d| RawDocumentBuf::try_from(d).expect("raw"))
        .collect();
    // a NaN with a payload, written byte for byte
    let mut payload = RawDocumentBuf::new();
    payload.append(cstr!("_id"), 20);
    payload.append(cstr!("what"), "nan payload");
    payload.append(cstr!("nan"), f64::from_bits(0x7ff8_0000_dead_beef));
    payload.append(cstr!("neg_nan"), f64::from_bits(0xfff8_0000_0000_0001));
    raw.push(payload);
    // near the 16 MiB limit
    let mut big = RawDocumentBuf::new();
    big.append(cstr!("_id"), 30);
    big.append(cstr!("what"), "big");
    let filler = vec![0xabu8; 16 * 1024 * 1024 - 200];
    big.append(
        cstr!("blob"),
        mongodb::bson::RawBinaryRef {
            subtype: BinarySubtype::Generic,
            bytes: &filler,
        },
    );
    raw.push(big);
    raw
}

fn dbpointer() -> mongodb::bson::DbPointer {
    // the bson crate does not let DbPointer be built directly: parse it
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0i32.to_le_bytes());
    bytes.push(0x0c);
    bytes.extend_from_slice(b"p\0");
    bytes.extend_from_slice(&3i32.to_le_bytes());
    bytes.extend_from_slice(b"ns\0");
    bytes.extend_from_slice(&[1u8; 12]);
    bytes.push(0);
    let len = bytes.len() as i32;
    bytes[..4].copy_from_slice(&len.to_le_bytes());
    let d = Document::from_reader(bytes.as_slice()).expect("dbpointer");
    match d.get("p") {
        Some(Bson::DbPointer(p)) => p.clone(),
        other => panic!("{other:?}"),
    }
}

/// `_id`s of many types, to check the stream order contract.
fn mixed_ids(real: bool) -> Vec<Bson> {
    let mut ids = vec![
        Bson::Int32(-5),
        Bson::Int64(3),
        Bson::Double(2.5),
        Bson::Double(-0.5),
        Bson::Int64(1 << 40),
        Bson::String("b".into()),
        Bson::String("B".into()),
        Bson::String("é".into()),
        Bson::String(String::new()),
        Bson::ObjectId(ObjectId::from_bytes([0; 12])),
        Bson::ObjectId(ObjectId::from_bytes([0xff; 12])),
        Bson::ObjectId(ObjectId::new()),
        Bson::Null,
        Bson::Boolean(true),
        Bson::Boolean(false),
        Bson::DateTime(DateTime::from_millis(-86_400_000)),
        Bson::DateTime(DateTime::from_millis(1)),
        Bson::DateTime(DateTime::from_millis(256)),
        Bson::Document(doc! { "a": 1, "b": 2 }),
        Bson::Document(doc! { "b": 2, "a": 1 }),
        Bson::Document(doc! {}),
        dec("7.00"),
        binary(BinarySubtype::Uuid, &[3u8; 16]),
        binary(BinarySubtype::Uuid, &[1u8; 16]),
        binary(BinarySubtype::Generic, b"k"),
        Bson::Timestamp(Timestamp {
            time: 1,
            increment: 2,
        }),
        Bson::MinKey,
        Bson::MaxKey,
    ];
    if real {
        ids.push(Bson::Symbol("sym".into()));
    }
    ids
}

async fn create(db: &Database, cmd: Document) -> anyhow::Result<()> {
    db.run_command(cmd.clone())
        .await
        .with_context(|| format!("{cmd}"))?;
    Ok(())
}

/// The fixture: every type, mixed ids, and collections with options,
/// indexes and a view.
async fn fill(db: &Database, real: bool) -> anyhow::Result<()> {
    let types = db.collection::<RawDocumentBuf>("types");
    for d in every_type(real) {
        types.insert_one(d).await?;
    }
    let mixed = db.collection::<Document>("mixed_ids");
    for (i, id) in mixed_ids(real).into_iter().enumerate() {
        mixed.insert_one(doc! { "_id": id, "i": i as i32 }).await?;
    }
    create(
        db,
        doc! { "create": "capped", "capped": true, "size": 65_536, "max": 50 },
    )
    .await?;
    let capped = db.collection::<Document>("capped");
    for i in 0..60 {
        capped.insert_one(doc! { "_id": i, "v": i }).await?;
    }
    create(
        db,
        doc! { "create": "validated",
        "validator": { "$jsonSchema": { "bsonType": "object", "required": ["name"] } },
        "validationLevel": "moderate", "validationAction": "warn" },
    )
    .await?;
    db.collection::<Document>("validated")
        .insert_many([
            doc! { "_id": "a", "name": "x" },
            doc! { "_id": "b", "other": 1 },
        ])
        .await?;
    create(
        db,
        doc! { "create": "french", "collation": { "locale": "fr", "strength": 2 } },
    )
    .await?;
    db.collection::<Document>("french")
        .insert_many([
            doc! { "_id": "b" },
            doc! { "_id": "B2" },
            doc! { "_id": "é" },
            doc! { "_id": "a" },
            doc! { "_id": "Z" },
            doc! { "_id": 5 },
        ])
        .await?;
    create(db, doc! { "create": "clustered", "clusteredIndex": { "key": { "_id": 1 }, "unique": true, "name": "by_id" } }).await?;
    db.collection::<Document>("clustered")
        .insert_many([doc! { "_id": 2 }, doc! { "_id": 1 }])
        .await?;
    create(db, doc! { "create": "indexed" }).await?;
    db.collection::<Document>("indexed")
        .insert_many((0..50).map(|i| doc! {
            "_id": i, "email": format!("u{i}@x"), "maybe": if i % 2 == 0 { Bson::Int32(i) } else { Bson::Null },
            "score": i, "at": DateTime::from_millis(i64::from(i)), "name": format!("Name {i}"),
            "loc": { "type": "Point", "coordinates": [f64::from(i) / 10.0, 1.0] },
            "tags": ["a", format!("t{i}")], "z": i % 5, "y": i % 3, "k": i,
        }))
        .await?;
    let mut indexes = vec![
        doc! { "key": { "email": 1 }, "name": "email_u", "unique": true },
        doc! { "key": { "maybe": -1 }, "name": "maybe_sparse", "sparse": true },
        doc! { "key": { "score": 1 }, "name": "score_partial", "partialFilterExpression": { "score": { "$gt": 10 } } },
        doc! { "key": { "at": 1 }, "name": "ttl", "expireAfterSeconds": 3_153_600_000i64 },
        doc! { "key": { "name": 1 }, "name": "name_de", "collation": { "locale": "de", "strength": 1 } },
        doc! { "key": { "loc": "2dsphere" }, "name": "geo" },
        doc! { "key": { "$**": 1 }, "name": "wild", "wildcardProjection": { "tags": 1 } },
        doc! { "key": { "k": 1 }, "name": "hidden_k", "hidden": true },
        doc! { "key": { "z": 1, "y": -1 }, "name": "z_y" },
    ];
    if real {
        indexes.push(doc! { "key": { "name": "text", "tags": "text" }, "name": "text_idx", "weights": { "name": 3 }, "default_language": "english" });
        indexes.push(doc! { "key": { "email": "hashed" }, "name": "hashed_email" });
    }
    create(db, doc! { "createIndexes": "indexed", "indexes": indexes }).await?;
    create(db, doc! { "create": "recent", "viewOn": "indexed", "pipeline": [ { "$match": { "score": { "$gte": 40 } } }, { "$project": { "email": 1 } } ] }).await?;
    if real {
        create(db, doc! { "create": "french_view", "viewOn": "french", "pipeline": [], "collation": { "locale": "fr" } }).await?;
    }
    Ok(())
}

/// The mixed-`_id` collection streams in strictly increasing key order
/// (type buckets, then the client-side ordered remainder).
async fn mixed_ids_in_key_order(url: &str) -> anyhow::Result<()> {
    let snap = MongoConnector
        .source(url)?
        .open(&ReadOptions::default())
        .await?;
    for name in ["mixed_ids", "french"] {
        let t = snap
            .schema()
            .table(&TableName::new(name))
            .context("collection")?
            .clone();
        let (tx, mut rx) = mpsc::channel::<tresor_core::RowBatch>(2);
        let check = async {
            let mut last: Option<Value> = None;
            let mut n = 0;
            while let Some(batch) = rx.recv().await {
                ensure!(!batch.is_empty() && batch.len() <= BATCH_ROWS, "bad batch");
                for row in batch {
                    n += 1;
                    if let Some(prev) = &last {
                        ensure!(
                            compare_keys(std::slice::from_ref(prev), &row[..1]) == Ordering::Less,
                            "{name}: {:?} after {prev:?}",
                            row[0]
                        );
                    }
                    last = Some(row[0].clone());
                }
            }
            Ok(n)
        };
        let (read, checked) = tokio::join!(snap.read_table(&t, tx), check);
        ensure!(read? == checked?, "{name}: counts differ");
    }
    snap.close().await?;
    Ok(())
}

async fn fidelity(server: &TestServer) -> anyhow::Result<()> {
    let client = server.client().await;
    let (src, empty, existing) = (
        unique_name("src"),
        unique_name("empty"),
        unique_name("merge"),
    );
    let r = async {
        fill(&client.database(&src), server.real).await?;
        let (src_url, empty_url, existing_url) =
            (server.url(&src), server.url(&empty), server.url(&existing));
        mixed_ids_in_key_order(&src_url)
            .await
            .context("key order")?;

        // into an empty database: the capped and clustered collections
        // cannot be written in a transaction, so this takes temporary
        // collections
        let summary = tresor_testing::copy_database(
            &MongoConnector,
            &src_url,
            &empty_url,
            RestoreMode::Replace,
            &TableFilter::all(),
        )
        .await?;
        ensure!(
            summary.rows.get("types").copied() == Some(every_type(server.real).len() as u64),
            "{summary:?}"
        );
        ensure!(
            summary.method.starts_with("temporary collections"),
            "{summary:?}"
        );
        tresor_testing::compare_databases(
            &MongoConnector,
            &src_url,
            &empty_url,
            &TableFilter::all(),
        )
        .await
        .context("documents differ after a restore into an empty database")?;
        for coll in ["types", "mixed_ids", "capped"] {
            ensure!(
                raw_docs(&client, &src, coll).await? == raw_docs(&client, &empty, coll).await?,
                "{coll}: raw documents differ"
            );
        }
        let (ls, rs) = (schema_of(&src_url).await?, schema_of(&empty_url).await?);
        if server.real {
            ensure!(summary.warnings.is_empty(), "{summary:?}");
            same_definitions(&ls, &rs)
                .context("definitions after a restore into an empty database")?;
        } else {
            // SecantusDB drops a collection's options on renameCollection;
            // the restore notices and says so
            ensure!(
                summary
                    .warnings
                    .iter()
                    .any(|w| w.contains("collection capped") && w.contains("after the swap")),
                "no warning about options lost in the swap: {summary:?}"
            );
            // (the clustered index goes with the clusteredIndex option)
            let (mut l, mut r) = (ls.clone(), rs.clone());
            l.tables.retain(|t| t.name.name != "clustered");
            r.tables.retain(|t| t.name.name != "clustered");
            definitions_agree(&l, &r, false)
                .context("indexes after a restore into an empty database")?;
        }
        let view: Vec<Document> = client
            .database(&empty)
            .collection::<Document>("recent")
            .find(doc! {})
            .await?
            .try_collect()
            .await?;
        ensure!(
            view.len() == 10,
            "the restored view returns {} documents",
            view.len()
        );

        // the same without capped and clustered collections, and without
        // the 16 MiB document (more than the transaction budget): one
        // transaction
        let txn_db = unique_name("txn");
        let no_special = TableFilter::new(&[] as &[&str], &["capped", "clustered", "types"])?;
        let summary = tresor_testing::copy_database(
            &MongoConnector,
            &src_url,
            &server.url(&txn_db),
            RestoreMode::Replace,
            &no_special,
        )
        .await;
        let rs = schema_of(&server.url(&txn_db)).await;
        let _ = client.database(&txn_db).drop().await;
        let summary = summary?;
        ensure!(
            summary.method == "one multi-document transaction",
            "{summary:?}"
        );
        let mut ls2 = ls.clone();
        ls2.tables.retain(|t| no_special.matches(&t.name));
        ls2.objects.clear();
        same_definitions(&ls2, &rs?).context("definitions after a restore in one transaction")?;

        // merged into an existing database
        let db = client.database(&existing);
        create(&db, doc! { "create": "types" }).await?;
        db.collection::<Document>("types")
            .insert_many([
                doc! { "_id": 1, "stale": true },
                doc! { "_id": 99, "only": "target" },
            ])
            .await?;
        create(&db, doc! { "create": "unrelated" }).await?;
        db.collection::<Document>("unrelated")
            .insert_one(doc! { "_id": 1 })
            .await?;
        tresor_testing::copy_database(
            &MongoConnector,
            &src_url,
            &existing_url,
            RestoreMode::Merge,
            &TableFilter::all(),
        )
        .await?;
        let src_types = raw_docs(&client, &src, "types").await?;
        let merged = raw_docs(&client, &existing, "types").await?;
        ensure!(
            merged.len() == src_types.len() + 1,
            "{} merged documents",
            merged.len()
        );
        for d in &src_types {
            ensure!(
                merged.contains(d),
                "a snapshot document is missing after the merge"
            );
        }
        ensure!(
            client
                .database(&existing)
                .collection::<Document>("unrelated")
                .count_documents(doc! {})
                .await?
                == 1,
            "merge touched another collection"
        );
        let filter = TableFilter::new(
            &[
                "mixed_ids",
                "indexed",
                "capped",
                "french",
                "clustered",
                "validated",
            ],
            &[] as &[&str],
        )?;
        tresor_testing::compare_databases(&MongoConnector, &src_url, &existing_url, &filter)
            .await?;
        let (ls, rs) = (schema_of(&src_url).await?, schema_of(&existing_url).await?);
        let mut ls2 = ls;
        ls2.tables.retain(|t| t.name.name != "types");
        ls2.objects.clear();
        let mut rs2 = rs;
        rs2.tables
            .retain(|t| t.name.name != "types" && t.name.name != "unrelated");
        rs2.objects.clear();
        if !server.real {
            // options lost by SecantusDB's renameCollection, as above
            ls2.tables.retain(|t| t.name.name != "clustered");
            rs2.tables.retain(|t| t.name.name != "clustered");
        }
        definitions_agree(&ls2, &rs2, server.real).context("definitions after merge")?;
        Ok(())
    }
    .await;
    for db in [&src, &empty, &existing] {
        let _ = client.database(db).drop().await;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secantus_every_type_option_and_index() {
    fidelity(&TestServer::secantus().await).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongod_every_type_option_and_index() {
    let Some(server) = TestServer::mongod("mongod_every_type_option_and_index").await else {
        return;
    };
    fidelity(&server).await.unwrap();
}
