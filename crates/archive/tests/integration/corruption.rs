//! Every kind of damaged, forged or hostile archive gives the right error,
//! never a panic.

use std::path::Path;

use tresor_archive::{ArchiveError, ArchiveFormat, ArchiveReader, ReadLimits};
use tresor_core::TableName;
use tresor_core::json::JsonError;

use super::support::*;

const BOTH: [ArchiveFormat; 2] = [ArchiveFormat::Zip, ArchiveFormat::TarZst];

fn open_err(path: &Path) -> ArchiveError {
    match ArchiveReader::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e,
    }
}

/// Opens the archive and returns every problem `validate` finds.
fn problems(path: &Path) -> Vec<ArchiveError> {
    let mut r = ArchiveReader::open(path).expect("open");
    r.validate().problems
}

#[test]
fn not_an_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("x");
    for (bytes, want) in [
        (&b""[..], "empty"),
        (b"hello, world", "neither a zip"),
        (&[0x1f, 0x8b, 8, 0, 0][..], "gzip"),
    ] {
        std::fs::write(&p, bytes).expect("write");
        let e = open_err(&p);
        assert!(matches!(e, ArchiveError::NotAnArchive(_)), "{e:?}");
        assert!(e.to_string().contains(want), "{e}");
        assert!(e.hint().is_some());
    }
    // a zip, but not ours
    build(
        &p,
        ArchiveFormat::Zip,
        &[("metadata.json".into(), br#"{"format":"other"}"#.to_vec())],
    );
    assert!(matches!(open_err(&p), ArchiveError::NotAnArchive(_)));
    let e = open_err(Path::new("/nonexistent/archive.zip"));
    assert!(matches!(e, ArchiveError::Io { .. }), "{e:?}");
}

#[test]
fn truncated_archives() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 50);
        let bytes = std::fs::read(&path).expect("read");
        for cut in [bytes.len() - 1, bytes.len() - 30, bytes.len() / 2, 10] {
            std::fs::write(&path, &bytes[..cut]).expect("write");
            let e = open_err(&path);
            assert!(
                matches!(e, ArchiveError::Truncated(_)),
                "{format:?} cut at {cut}: {e:?}"
            );
        }
    }
}

#[test]
fn corrupt_compressed_data() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 200);
        let mut bytes = std::fs::read(&path).expect("read");
        // flip bytes early in the stream: inside the first table's data
        for b in &mut bytes[200..260] {
            *b ^= 0x55;
        }
        std::fs::write(&path, &bytes).expect("write");
        let errors = match ArchiveReader::open(&path) {
            Err(e) => vec![e],
            Ok(mut r) => r.validate().problems,
        };
        assert!(!errors.is_empty(), "{format:?}");
        assert!(
            errors.iter().all(ArchiveError::is_damaged),
            "{format:?}: {errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| matches!(e, ArchiveError::Corrupt(_) | ArchiveError::Truncated(_))),
            "{format:?}: {errors:?}"
        );
    }
}

#[test]
fn missing_metadata() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 3);
        rewrite(&path, format, |files| {
            files.retain(|f| f.0 != "metadata.json");
        });
        assert!(
            matches!(open_err(&path), ArchiveError::MissingMetadata),
            "{format:?}"
        );
    }
}

fn edit_metadata(files: &mut [(String, Vec<u8>)], f: impl FnOnce(&mut serde_json::Value)) {
    let meta = file_of(files, "metadata.json");
    let mut v: serde_json::Value = serde_json::from_slice(meta).expect("json");
    f(&mut v);
    *meta = serde_json::to_vec(&v).expect("json");
}

#[test]
fn newer_version_asks_for_an_upgrade() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 3);
        rewrite(&path, format, |files| {
            edit_metadata(files, |m| {
                m["version"] = 2.into();
                m["something_new"] = true.into();
            });
        });
        let e = open_err(&path);
        assert!(
            matches!(
                e,
                ArchiveError::UnsupportedVersion {
                    found: 2,
                    supported: 1
                }
            ),
            "{e:?}"
        );
        assert!(e.hint().expect("hint").contains("upgrade tresor"));
    }
}

#[test]
fn invalid_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_archive(dir.path(), ArchiveFormat::Zip, 3);
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("no numeric", Box::new(|m| m["version"] = "1".into())),
        (
            "missing field `schema`",
            Box::new(|m| {
                m.as_object_mut().expect("obj").remove("schema");
            }),
        ),
        (
            "invalid digest",
            Box::new(|m| m["tables"][0]["digest"] = "xyz".into()),
        ),
        (
            "not in the schema",
            Box::new(|m| m["tables"][0]["name"]["name"] = "ghost".into()),
        ),
        (
            "has no file",
            Box::new(|m| {
                m["tables"].as_array_mut().expect("tables").pop();
            }),
        ),
    ];
    let original = entries(&path);
    for (want, f) in cases {
        let mut files = original.clone();
        edit_metadata(&mut files, f);
        build(&path, ArchiveFormat::Zip, &files);
        let e = open_err(&path);
        assert!(
            matches!(e, ArchiveError::InvalidMetadata(_)),
            "{want}: {e:?}"
        );
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
    let mut files = original;
    *file_of(&mut files, "metadata.json") = b"{not json".to_vec();
    build(&path, ArchiveFormat::Zip, &files);
    assert!(matches!(open_err(&path), ArchiveError::InvalidMetadata(_)));
}

#[test]
fn forged_rows_fail_the_digest() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 5);
        rewrite(&path, format, |files| {
            let users = file_of(files, "tables/public.users.jsonl");
            let text = String::from_utf8(users.clone()).expect("utf8");
            *users = text.replace("user 3", "mallory").into_bytes();
        });
        let errors = problems(&path);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert!(matches!(e, ArchiveError::DigestMismatch { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("public.users") && msg.contains("tables/public.users.jsonl"),
            "{msg}"
        );
        // a caller that reads the table sees the error at its end
        let mut r = ArchiveReader::open(&path).expect("open");
        let items: Vec<_> = r
            .read_table(&TableName::qualified("public", "users"))
            .expect("read")
            .collect();
        assert_eq!(items.len(), 6);
        assert!(matches!(items[5], Err(ArchiveError::DigestMismatch { .. })));
    }
}

#[test]
fn dropped_rows_fail_the_row_count() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 5);
        rewrite(&path, format, |files| {
            let users = file_of(files, "tables/public.users.jsonl");
            let text = String::from_utf8(users.clone()).expect("utf8");
            let kept: Vec<&str> = text.lines().take(4).collect();
            *users = format!("{}\n", kept.join("\n")).into_bytes();
        });
        let errors = problems(&path);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            matches!(
                &errors[0],
                ArchiveError::RowCountMismatch { found: 4, expected: 5, table, .. } if table == "public.users"
            ),
            "{errors:?}"
        );
    }
}

#[test]
fn bad_lines_name_file_and_line() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 5);
        rewrite(&path, format, |files| {
            let users = file_of(files, "tables/public.users.jsonl");
            let text = String::from_utf8(users.clone()).expect("utf8");
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[1] = "this is not json".into();
            lines[2] = r#"{"id":2}"#.into();
            lines[3] = r#"{"id":3,"name":"x","extra":1}"#.into();
            lines[4] = r#"{"id":{"$nope":1},"name":"x"}"#.into();
            *users = format!("{}\n", lines.join("\n")).into_bytes();
        });
        let errors = problems(&path);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            matches!(&errors[0], ArchiveError::BadLine { file, line: 2, .. } if file == "tables/public.users.jsonl"),
            "{:?}",
            errors[0]
        );
        assert!(
            errors[0]
                .to_string()
                .starts_with("tables/public.users.jsonl line 2: not valid json")
        );
        assert!(matches!(
            &errors[1],
            ArchiveError::BadRow { line: 3, source: JsonError::MissingColumn(c), .. } if c == "name"
        ));
        assert!(matches!(
            &errors[2],
            ArchiveError::BadRow { line: 4, source: JsonError::UnknownColumn(c), .. } if c == "extra"
        ));
        assert!(matches!(&errors[3], ArchiveError::BadRow { line: 5, .. }));
        assert!(
            errors[3]
                .to_string()
                .contains("unknown value tag \"$nope\""),
            "{}",
            errors[3]
        );
    }
}

#[test]
fn unlisted_and_missing_files() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 2);
        rewrite(&path, format, |files| {
            files.retain(|f| f.0 != "tables/empty.jsonl");
            files.insert(0, ("tables/extra.jsonl".into(), b"{}\n".to_vec()));
        });
        let e = open_err(&path);
        match &e {
            ArchiveError::FileListMismatch { missing, unlisted } => {
                assert_eq!(missing, &["tables/empty.jsonl"]);
                assert_eq!(unlisted, &["tables/extra.jsonl"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "archive files do not match metadata.json: missing tables/empty.jsonl unlisted tables/extra.jsonl"
        );
    }
}

#[test]
fn path_traversal_names() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 2);
        let original = entries(&path);
        let mut files = original.clone();
        files.insert(0, ("../evil.jsonl".into(), b"x".to_vec()));
        build(&path, format, &files);
        assert!(
            matches!(open_err(&path), ArchiveError::UnsafeName(n) if n == "../evil.jsonl"),
            "{format:?}"
        );
        // the metadata points outside tables/
        let mut files = original.clone();
        for f in files.iter_mut() {
            if f.0 == "tables/empty.jsonl" {
                f.0 = "tables/../empty.jsonl".into();
            }
        }
        edit_metadata(&mut files, |m| {
            for t in m["tables"].as_array_mut().expect("tables") {
                if t["file"] == "tables/empty.jsonl" {
                    t["file"] = "tables/../empty.jsonl".into();
                }
            }
        });
        build(&path, format, &files);
        assert!(
            matches!(open_err(&path), ArchiveError::UnsafeName(_)),
            "{format:?}"
        );
    }
}

#[test]
fn zip_bombs_hit_the_limits() {
    for format in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_archive(dir.path(), format, 2);
        // one huge line of zeros, which compresses to almost nothing
        rewrite(&path, format, |files| {
            let users = file_of(files, "tables/public.users.jsonl");
            users.splice(0..0, std::iter::repeat_n(b'0', 4 << 20));
        });
        let size = std::fs::metadata(&path).expect("meta").len();
        assert!(size < 100_000, "{size}");
        let limits = ReadLimits {
            max_inflated_bytes: Some(1 << 20),
            ..ReadLimits::default()
        };
        let e = ArchiveReader::open_with_limits(&path, limits)
            .err()
            .expect("limit");
        assert!(
            matches!(e, ArchiveError::TooLarge { limit: 1_048_576 }),
            "{format:?}: {e:?}"
        );
        let limits = ReadLimits {
            max_inflation_ratio: Some(20),
            ..ReadLimits::default()
        };
        let e = ArchiveReader::open_with_limits(&path, limits)
            .err()
            .expect("ratio");
        assert!(
            matches!(e, ArchiveError::TooLarge { .. }),
            "{format:?}: {e:?}"
        );
        let limits = ReadLimits {
            max_line_bytes: 1 << 20,
            ..ReadLimits::default()
        };
        let mut r = ArchiveReader::open_with_limits(&path, limits).expect("open");
        let report = r.validate();
        assert!(
            report.problems.iter().any(|e| matches!(
                e,
                ArchiveError::LineTooLong { line: 1, limit: 1_048_576, file } if file == "tables/public.users.jsonl"
            )),
            "{format:?}: {:?}",
            report.problems
        );
    }
}

#[test]
fn unknown_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_archive(dir.path(), ArchiveFormat::Zip, 1);
    let mut r = ArchiveReader::open(&path).expect("open");
    assert!(matches!(
        r.read_table(&TableName::new("ghost")).err(),
        Some(ArchiveError::UnknownTable(_))
    ));
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    for format in BOTH {
        let path = write_archive(dir.path(), format, 3);
        let good = std::fs::read(&path).expect("read");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..60 {
            let mut bytes = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = 4 + (seed as usize) % (bytes.len() - 4);
                bytes[i] = (seed >> 32) as u8;
            }
            std::fs::write(&path, &bytes).expect("write");
            if let Ok(mut r) = ArchiveReader::open(&path) {
                let _ = r.validate();
            }
        }
    }
}

/// Renames every occurrence of `from` to `to` (same length) in the file's
/// bytes: local headers and central directory alike.
fn rename_bytes(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).expect("read");
    let mut n = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..]
        .windows(from.len())
        .position(|w| w == from.as_bytes())
    {
        bytes[i + at..i + at + from.len()].copy_from_slice(to.as_bytes());
        i += at + from.len();
        n += 1;
    }
    assert!(n >= 2, "{from} found {n} times");
    std::fs::write(path, bytes).expect("write");
}

/// A zip with two `metadata.json` entries (the first one forged), or two
/// copies of a table file, was read as whichever entry the zip library
/// kept; and a symbolic link entry was accepted. Each is refused by name.
#[test]
fn duplicate_and_link_entries_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_archive(dir.path(), ArchiveFormat::Zip, 2);
    let original = entries(&path);

    let mut files = original.clone();
    files.insert(
        0,
        ("metadataXjson".into(), b"{\"format\": \"forged\"}".to_vec()),
    );
    build(&path, ArchiveFormat::Zip, &files);
    rename_bytes(&path, "metadataXjson", "metadata.json");
    let e = open_err(&path);
    assert!(
        matches!(&e, ArchiveError::Corrupt(m) if m.contains("\"metadata.json\" appears twice")),
        "{e:?}"
    );

    let mut files = original.clone();
    files.push(("tables/emptX.jsonl".into(), b"{}\n".to_vec()));
    build(&path, ArchiveFormat::Zip, &files);
    rename_bytes(&path, "tables/emptX.jsonl", "tables/empty.jsonl");
    let e = open_err(&path);
    assert!(
        matches!(&e, ArchiveError::Corrupt(m) if m.contains("\"tables/empty.jsonl\" appears twice")),
        "{e:?}"
    );

    // a symbolic link entry, as `zip --symlinks` writes one
    let f = std::fs::File::create(&path).expect("create");
    let mut w = zip::ZipWriter::new(f);
    for (name, data) in &original {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("file");
        std::io::Write::write_all(&mut w, data).expect("write");
    }
    w.add_symlink(
        "tables/link.jsonl",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .expect("symlink");
    w.finish().expect("finish");
    let e = open_err(&path);
    assert!(
        matches!(&e, ArchiveError::UnsafeName(n) if n.contains("symbolic link")),
        "{e:?}"
    );
}
