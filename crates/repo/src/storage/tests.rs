use opendal::ErrorKind;

use super::*;

#[tokio::test]
async fn memory_roundtrip_and_list() {
    let s = Storage::memory();
    s.write("keys/a", b"1".to_vec()).await.unwrap();
    s.write("keys/b", b"22".to_vec()).await.unwrap();
    s.write("data/ab/abcd", b"333".to_vec()).await.unwrap();
    assert_eq!(s.list("keys").await.unwrap(), vec!["a", "b"]);
    assert_eq!(s.list_recursive("data").await.unwrap(), vec!["ab/abcd"]);
    assert!(s.list("data").await.unwrap().is_empty());
    assert_eq!(s.size("keys/b").await.unwrap(), 2);
    assert_eq!(s.read_range("data/ab/abcd", 1, 2).await.unwrap(), b"33");
    assert!(s.read("nope").await.unwrap_err().is_not_found());
    assert!(!s.exists("nope").await.unwrap());
    assert!(s.list("missing").await.unwrap().is_empty());
    s.delete("keys/a").await.unwrap();
    s.delete("keys/a").await.unwrap();
    assert_eq!(s.list("keys").await.unwrap(), vec!["b"]);
}

#[tokio::test]
async fn write_if_not_exists_refuses_existing() {
    let dir = tempfile::tempdir().unwrap();
    for s in [Storage::memory(), Storage::local(dir.path()).unwrap()] {
        s.write_if_not_exists("locks/x", b"1".to_vec())
            .await
            .unwrap();
        let err = s
            .write_if_not_exists("locks/x", b"2".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
        assert_eq!(s.read("locks/x").await.unwrap(), b"1");
    }
}

/// Many writers race for one name on a local directory: exactly one wins
/// (the check-then-write this replaced let several believe they had won).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_create_if_absent_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::local(dir.path()).unwrap();
    for round in 0..20 {
        let name = format!("locks/race-{round}");
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let s = s.clone();
                let name = name.clone();
                tokio::spawn(
                    async move { s.write_if_not_exists(&name, vec![i; 100]).await.is_ok() },
                )
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
    }
    assert!(
        s.list_recursive("")
            .await
            .unwrap()
            .iter()
            .all(|p| p.starts_with("locks/"))
    );
}

#[tokio::test]
async fn local_write_leaves_no_temp_files_in_listing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::local(dir.path()).unwrap();
    s.write("index/abc", vec![7; 1000]).await.unwrap();
    s.write("index/abc", vec![8; 10]).await.unwrap();
    assert_eq!(s.list("index").await.unwrap(), vec!["abc"]);
    assert_eq!(s.read("index/abc").await.unwrap(), vec![8; 10]);
    assert_eq!(s.list_recursive("").await.unwrap(), vec!["index/abc"]);
}

#[test]
fn from_url_forms() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Storage::from_url("memory:").unwrap().location(), "memory:");
    let url = format!("file://{}", dir.path().display());
    assert!(Storage::from_url(&url).is_ok());
    assert!(Storage::from_url(dir.path().to_str().unwrap()).is_ok());
    for bad in [
        "",
        "ftp://x/y",
        "file://relative",
        "s3://",
        "s3://b/p?region",
        "s3://b?x=1",
        "azure://c/p",
        "sftp://u@h/p?key=/nonexistent/key",
    ] {
        let err = Storage::from_url(bad).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidUrl { .. }),
            "{bad}: {err}"
        );
    }
    let s3 = Storage::from_url(
        "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1",
    )
    .unwrap();
    assert_eq!(s3.location(), "s3://bucket/some/prefix");
    assert!(s3.is_remote());
}

#[test]
fn options_debug_redacts_credentials() {
    let options = StorageOptions {
        credentials: [("secret-access-key".to_string(), "hunter2".to_string())].into(),
        ..StorageOptions::default()
    };
    let shown = format!("{options:?}");
    assert!(
        shown.contains("secret-access-key") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn permanent_failures_carry_a_hint() {
    let denied = StorageError::from_opendal(
        "read",
        "config",
        opendal::Error::new(ErrorKind::PermissionDenied, "AccessDenied"),
    );
    assert!(!denied.is_retryable() && denied.is_denied());
    assert!(denied.hint().unwrap().contains("credentials"));
    let bucket = StorageError::from_opendal(
        "read",
        "config",
        opendal::Error::new(
            ErrorKind::ConfigInvalid,
            "S3Error { code: \"NoSuchBucket\" }",
        ),
    );
    assert!(bucket.hint().unwrap().contains("does not exist"));
    let region = StorageError::from_opendal(
        "read",
        "config",
        opendal::Error::new(
            ErrorKind::Unexpected,
            "AuthorizationHeaderMalformed: the region 'us-east-1' is wrong",
        ),
    );
    assert!(region.hint().unwrap().contains("region"));
    let busy = StorageError::from_opendal(
        "read",
        "config",
        opendal::Error::new(ErrorKind::Unexpected, "503 SlowDown").set_temporary(),
    );
    assert!(busy.is_retryable() && busy.hint().is_none());
}
