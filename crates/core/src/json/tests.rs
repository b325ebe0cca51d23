//! Round trips and fixed forms of the typed JSON mapping.

use super::*;
use crate::schema::{Column, PortableType, RowKey, TableName};
use proptest::prelude::*;

fn any_date() -> impl Strategy<Value = Date> {
    prop_oneof![
        Just(Date::Infinity),
        Just(Date::NegInfinity),
        (any::<i32>(), any::<u8>(), any::<u8>()).prop_map(|(year, month, day)| Date::Ymd {
            year,
            month,
            day
        }),
    ]
}

fn any_bson() -> impl Strategy<Value = Vec<u8>> {
    use bson::{Bson, Document};
    let leaf = prop_oneof![
        any::<f64>()
            .prop_filter("canonical nan only", |f| !f.is_nan())
            .prop_map(Bson::Double),
        Just(Bson::Double(f64::NAN)),
        ".*".prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        "-?[0-9]{1,20}(\\.[0-9]{1,5})?(E[+-]?[0-9]{1,3})?"
            .prop_map(|s| Bson::Decimal128(s.parse().expect("decimal"))),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(s, bytes)| {
            Bson::Binary(bson::Binary {
                subtype: s.into(),
                bytes,
            })
        }),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            proptest::collection::vec(("[a-z_]{0,6}", inner), 0..4)
                .prop_map(|kv| Bson::Document(kv.into_iter().collect::<Document>())),
        ]
    });
    proptest::collection::vec(("[a-z_]{1,6}", value), 0..5).prop_map(|kv| {
        kv.into_iter()
            .collect::<Document>()
            .to_vec()
            .expect("encode")
    })
}

/// Like `codec::tests::any_value`, with wider dates and times and
/// real BSON documents next to arbitrary bytes.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<u32>().prop_map(|b| Value::F32(f32::from_bits(b))),
        any::<f32>().prop_map(Value::F32),
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
        any::<f64>().prop_map(Value::F64),
        "-?[0-9]{1,40}(\\.[0-9]{0,30})?".prop_map(Value::Decimal),
        Just(Value::Decimal("NaN".into())),
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
        (any_date(), any::<i64>())
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
        any_bson().prop_map(Value::Document),
        ("[a-z]+", ".*").prop_map(|(type_name, text)| Value::Other { type_name, text }),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        (
            proptest::collection::vec(inner, 0..6),
            -3i32..3,
            any::<bool>(),
        )
            .prop_map(|(elements, lower, two_dims)| {
                let mut a = Array::list(elements);
                if let Some(d) = a.dims.first_mut() {
                    d.lower = lower;
                }
                if two_dims && a.elements.len().is_multiple_of(2) && !a.elements.is_empty() {
                    let n = a.elements.len() as u32;
                    a.dims = vec![
                        ArrayDim { len: 2, lower: 1 },
                        ArrayDim { len: n / 2, lower },
                    ];
                }
                Value::Array(Box::new(a))
            })
    })
}

fn round_trip(v: &Value) -> Result<(), String> {
    let j = value_to_json(v);
    let back = value_from_json(&j).map_err(|e| format!("{v:?} -> {j}: {e}"))?;
    if !back.same(v) {
        return Err(format!("{v:?} -> {j} -> {back:?}"));
    }
    let text = serde_json::to_string(&j).map_err(|e| e.to_string())?;
    let parsed: Json = serde_json::from_str(&text).map_err(|e| format!("{text}: {e}"))?;
    let back = value_from_json(&parsed).map_err(|e| format!("{text}: {e}"))?;
    if !back.same(v) {
        return Err(format!("{v:?} -> {text} -> {back:?}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn value_round_trip(v in any_value()) {
        if let Err(e) = round_trip(&v) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn real_documents_use_extended_json(bytes in any_bson()) {
        let j = document_to_json(&bytes);
        prop_assert!(j.get("$docbytes").is_none(), "{}", j);
        prop_assert_eq!(document_from_json(&j).expect("decode"), bytes);
    }

    #[test]
    fn decoding_any_json_never_panics(text in "[\\[\\]{}\":,$a-z0-9.\\-]{0,40}") {
        if let Ok(j) = serde_json::from_str::<Json>(&text) {
            let _ = value_from_json(&j);
            let _ = document_from_json(&j);
        }
    }
}

fn j(text: &str) -> Json {
    serde_json::from_str(text).expect("json")
}

#[test]
fn natural_forms() {
    assert_eq!(value_to_json(&Value::F64(1.0)).to_string(), "1.0");
    assert_eq!(value_to_json(&Value::F64(-0.0)).to_string(), "-0.0");
    assert_eq!(value_to_json(&Value::F64(1e300)).to_string(), "1e+300");
    assert_eq!(value_to_json(&Value::Int(1)).to_string(), "1");
    assert_eq!(
        value_to_json(&Value::F64(f64::NAN)).to_string(),
        r#"{"$f64":"NaN"}"#
    );
    assert_eq!(
        value_to_json(&Value::F32(f32::from_bits(0x7fc0_0001))).to_string(),
        r#"{"$f32bits":"7fc00001"}"#
    );
    assert_eq!(
        value_to_json(&Value::F32(0.1)).to_string(),
        r#"{"$f32":0.1}"#
    );
    assert_eq!(
        value_to_json(&Value::Time(Time {
            micros: -Time::hms(838, 59, 59, 500_000).micros
        }))
        .to_string(),
        r#"{"$time":"-838:59:59.5"}"#
    );
    assert_eq!(
        value_to_json(&Value::TimestampTz(
            "2024-01-31T10:00:00.5".parse().expect("ts")
        ))
        .to_string(),
        r#"{"$timestamptz":"2024-01-31T10:00:00.5Z"}"#
    );
    assert_eq!(
        value_to_json(&Value::Bits {
            len: 4,
            bytes: vec![0x50]
        })
        .to_string(),
        r#"{"$bits":"0101"}"#
    );
    assert_eq!(
        value_to_json(&Value::Array(Box::new(Array::list(vec![Value::Int(1)])))).to_string(),
        r#"{"$array":[1]}"#
    );
    assert_eq!(
        value_to_json(&Value::Uuid([0xab; 16])).to_string(),
        r#"{"$uuid":"abababab-abab-abab-abab-abababababab"}"#
    );
    assert_eq!(
        value_to_json(&Value::Date(Date::ymd(0, 0, 0))).to_string(),
        r#"{"$date":"0000-00-00"}"#
    );
}

#[test]
fn decode_errors() {
    assert_eq!(
        value_from_json(&j(r#"{"a":1}"#)),
        Err(JsonError::UnknownTag("a".into()))
    );
    assert_eq!(
        value_from_json(&j(r#"{"$uint":1,"$int":2}"#)),
        Err(JsonError::NotTagged)
    );
    assert_eq!(value_from_json(&j("{}")), Err(JsonError::NotTagged));
    assert!(matches!(
        value_from_json(&j("18446744073709551615")),
        Err(JsonError::IntOutOfRange(_))
    ));
    assert!(value_from_json(&j("[1]")).is_err());
    assert!(value_from_json(&j(r#"{"$date":"2024-01"}"#)).is_err());
    assert!(value_from_json(&j(r#"{"$time":"99999999999999999999:00:00"}"#)).is_err());
    assert!(value_from_json(&j(r#"{"$interval":{"months":1,"days":2}}"#)).is_err());
    assert!(value_from_json(&j(r#"{"$array":{"dims":[[3,1]],"items":[1]}}"#)).is_err());
    assert!(value_from_json(&j(r#"{"$doc":{"$oid":"00"}}"#)).is_err());
    assert!(value_from_json(&j(r#"{"$bits":"012"}"#)).is_err());
}

#[test]
fn time_extremes() {
    for micros in [i64::MIN, i64::MAX, -1, 0, 1, 86_400_000_000] {
        assert_eq!(parse_time(&format_time(micros)), Ok(micros), "{micros}");
    }
}

#[test]
fn documents_with_every_bson_type_are_exact() {
    use bson::spec::BinarySubtype;
    use bson::{Binary, Bson, JavaScriptCodeWithScope, Regex, Timestamp as BTs, doc, oid};
    let d = doc! {
        "_id": oid::ObjectId::from_bytes([7; 12]),
        "z": 1,
        "a": Bson::Int64(-5),
        "nan": f64::NAN,
        "neg0": -0.0f64,
        "inf": f64::NEG_INFINITY,
        "big": 1e300,
        "tiny": 5e-324,
        "dec": Bson::Decimal128("-1.50E+10".parse().expect("dec")),
        "dec_nan": Bson::Decimal128("NaN".parse().expect("dec")),
        "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 255] },
        "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![9; 16] },
        "user": Binary { subtype: BinarySubtype::UserDefined(0x80), bytes: vec![] },
        "re": Regex { pattern: "^a.*b$".try_into().expect("cstr"), options: "mi".try_into().expect("cstr") },
        "ts": BTs { time: 4_000_000_000, increment: 7 },
        "date": bson::DateTime::from_millis(-62_135_596_800_001),
        "min": Bson::MinKey,
        "max": Bson::MaxKey,
        "undef": Bson::Undefined,
        "sym": Bson::Symbol("s".into()),
        "code": Bson::JavaScriptCode("f()".into()),
        "cws": JavaScriptCodeWithScope { code: "g(x)".into(), scope: doc! {"x": 1, "y": {"$k": [1, "two"]}} },
        "nested": {"b": [1, [2, {"c": Bson::Null}]], "a": true},
        "empty": {},
        "text": "héllo\u{0}",
    };
    let bytes = d.to_vec().expect("bytes");
    let json = document_to_json(&bytes);
    assert!(json.get("$docbytes").is_none(), "{json}");
    let text = json.to_string();
    assert!(
        text.starts_with(r#"{"_id":{"$oid":"070707070707070707070707"},"z":{"$numberInt":"1"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#""neg0":{"$numberDouble":"-0.0"}"#),
        "{text}"
    );
    assert!(text.contains(r#""nan":{"$numberDouble":"NaN"}"#), "{text}");
    assert!(
        text.contains(r#""ts":{"$timestamp":{"t":4000000000,"i":7}}"#),
        "{text}"
    );
    let back = document_from_json(&j(&text)).expect("decode");
    assert_eq!(back, bytes);
    // through the value form too
    round_trip(&Value::Document(bytes)).expect("value round trip");
}

#[test]
fn documents_that_extended_json_cannot_hold_fall_back_to_bytes() {
    // a NaN with a payload
    let d = bson::doc! {"x": f64::from_bits(0x7ff8_0000_0000_0001)};
    // a document that reads like a wrapper
    let w = bson::doc! {"$docbytes": "AAAA"};
    let wrapped = bson::doc! {"a": {"$oid": "x"}};
    for bytes in [
        d.to_vec().expect("bytes"),
        w.to_vec().expect("bytes"),
        wrapped.to_vec().expect("bytes"),
        vec![1, 2, 3],
        vec![],
    ] {
        let json = document_to_json(&bytes);
        assert!(json.get("$docbytes").is_some(), "{json}");
        assert_eq!(document_from_json(&json).expect("decode"), bytes);
    }
    // duplicate keys
    let mut dup = Vec::new();
    dup.extend_from_slice(&[0; 4]);
    for _ in 0..2 {
        dup.extend_from_slice(&[0x10, b'a', 0, 1, 0, 0, 0]);
    }
    dup.push(0);
    let n = dup.len() as i32;
    dup[..4].copy_from_slice(&n.to_le_bytes());
    assert!(document_to_json(&dup).get("$docbytes").is_some());
    // deep nesting
    let mut deep = bson::doc! {"x": 1};
    for _ in 0..95 {
        deep = bson::doc! {"d": deep};
    }
    let bytes = deep.to_vec().expect("bytes");
    let json = document_to_json(&bytes);
    assert!(json.get("$docbytes").is_some());
    let text =
        serde_json::to_string(&value_to_json(&Value::Document(bytes.clone()))).expect("text");
    let back: Json = serde_json::from_str(&text).expect("parse");
    assert!(
        value_from_json(&back)
            .expect("value")
            .same(&Value::Document(bytes))
    );
}

#[test]
fn relaxed_extended_json_is_accepted() {
    let bytes = document_from_json(&j(r#"{"a":1,"b":5000000000,"c":1.5,"d":"x"}"#)).expect("doc");
    let d = bson::Document::from_reader(bytes.as_slice()).expect("bson");
    assert_eq!(d.get_i32("a").ok(), Some(1));
    assert_eq!(d.get_i64("b").ok(), Some(5_000_000_000));
    assert_eq!(d.get_f64("c").ok(), Some(1.5));
}

fn table() -> TableSchema {
    let mut g = Column::new(
        "g",
        "int",
        PortableType::Int {
            bits: 32,
            unsigned: false,
        },
    );
    g.generated = Some(crate::schema::Generated {
        expression: "a+1".into(),
        stored: true,
    });
    TableSchema {
        name: TableName::new("t"),
        kind: "table".into(),
        columns: vec![
            Column::new(
                "a",
                "int",
                PortableType::Int {
                    bits: 64,
                    unsigned: false,
                },
            ),
            g,
            Column::new(
                "b",
                "text",
                PortableType::Text {
                    max_len: None,
                    fixed: false,
                },
            ),
        ],
        primary_key: vec!["a".into()],
        row_key: RowKey::Columns {
            columns: vec!["a".into()],
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

#[test]
fn rows() {
    let t = table();
    let row = vec![Value::Int(1), Value::Text("x".into())];
    let m = row_to_json(&t, &row).expect("row");
    assert_eq!(Json::Object(m.clone()).to_string(), r#"{"a":1,"b":"x"}"#);
    assert_eq!(row_from_json(&t, &m).expect("back"), row);
    assert!(matches!(
        row_to_json(&t, &[Value::Int(1)]),
        Err(JsonError::RowLength {
            expected: 2,
            found: 1
        })
    ));
    let missing = j(r#"{"a":1}"#);
    assert_eq!(
        row_from_json(&t, missing.as_object().expect("obj")),
        Err(JsonError::MissingColumn("b".into()))
    );
    let extra = j(r#"{"a":1,"b":"x","g":2}"#);
    assert_eq!(
        row_from_json(&t, extra.as_object().expect("obj")),
        Err(JsonError::UnknownColumn("g".into()))
    );
    let bad = j(r#"{"a":{"$uint":-1},"b":"x"}"#);
    let e = row_from_json(&t, bad.as_object().expect("obj")).expect_err("bad");
    assert!(
        e.to_string().starts_with("column \"a\": invalid uint"),
        "{e}"
    );
}
