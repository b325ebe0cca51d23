//! Object-level scenarios every storage backend must pass: what the
//! repository relies on from its storage.

use std::collections::BTreeSet;
use std::sync::Arc;

use tresor_repo::{MULTIPART_CHUNK, StorageError};

use super::support::{Backend, blob};

pub async fn objects_round_trip_and_not_found(b: Backend) {
    let s = &b.storage;
    s.write("keys/a", b"one".to_vec()).await.unwrap();
    s.write("keys/a", b"two!".to_vec()).await.unwrap();
    assert_eq!(s.read("keys/a").await.unwrap(), b"two!", "a write replaces");
    assert_eq!(s.size("keys/a").await.unwrap(), 4);
    assert!(s.exists("keys/a").await.unwrap());
    let missing = s.read("keys/missing").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(s.stat("keys/missing").await.unwrap_err().is_not_found());
    assert!(!s.exists("keys/missing").await.unwrap());
    assert!(
        s.read_range("keys/missing", 0, 4)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(s.list("nothing-here").await.unwrap().is_empty());
    assert!(s.list_recursive("nothing-here").await.unwrap().is_empty());
    s.delete("keys/a").await.unwrap();
    s.delete("keys/a").await.unwrap();
    assert!(!s.exists("keys/a").await.unwrap());
    s.write("empty", Vec::new()).await.unwrap();
    assert_eq!(s.read("empty").await.unwrap(), Vec::<u8>::new());
}

pub async fn ranged_reads(b: Backend) {
    let s = &b.storage;
    let data = blob(1, 100_000);
    s.write("data/ab/pack", data.clone()).await.unwrap();
    for (offset, len) in [
        (0u64, 1u64),
        (0, 100_000),
        (99_999, 1),
        (12_345, 54_321),
        (65_536, 4096),
    ] {
        let got = s.read_range("data/ab/pack", offset, len).await.unwrap();
        let (o, l) = (offset as usize, len as usize);
        assert_eq!(got, data[o..o + l], "range {offset}+{len}");
    }
    assert!(
        s.read_range("data/ab/pack", 10, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // a range past the end (a damaged index can state one, up to 4 GiB):
    // an error or the bytes there are, never a panic or room made for the
    // whole range; the repository names the pack truncated either way
    for (offset, len) in [(99_990u64, 20u64), (0, 1 << 32)] {
        match s.read_range("data/ab/pack", offset, len).await {
            Ok(got) => assert!((got.len() as u64) < len, "range {offset}+{len}"),
            Err(e) => assert!(!e.is_not_found(), "range {offset}+{len}: {e}"),
        }
    }
}

pub async fn large_objects(b: Backend) {
    let s = &b.storage;
    // more than two parts of a multipart upload
    let data = blob(2, MULTIPART_CHUNK * 2 + 12_345);
    s.write("data/cd/large", data.clone()).await.unwrap();
    assert_eq!(s.size("data/cd/large").await.unwrap(), data.len() as u64);
    assert!(
        s.read("data/cd/large").await.unwrap() == data,
        "large object differs"
    );
    let tail = s
        .read_range("data/cd/large", data.len() as u64 - 1000, 1000)
        .await
        .unwrap();
    assert_eq!(tail, data[data.len() - 1000..]);
}

pub async fn listing_many_objects(b: Backend) {
    let s = Arc::new(b.storage.clone());
    // more than one page of an S3 listing (1000) and of Azure's (5000 is
    // its maximum, but servers page earlier), spread over sub-directories
    let names: BTreeSet<String> = (0..1100u32)
        .map(|i| format!("{:02x}/{i:05}", i % 7))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in names.iter().cloned().collect::<Vec<_>>().chunks(110) {
        let s = s.clone();
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            for n in chunk {
                s.write(&format!("data/{n}"), n.as_bytes().to_vec())
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    s.write("data/top", b"x".to_vec()).await.unwrap();
    let listed: BTreeSet<String> = s
        .list_recursive("data")
        .await
        .unwrap()
        .into_iter()
        .collect();
    let mut expected = names.clone();
    expected.insert("top".into());
    assert_eq!(listed.len(), expected.len());
    assert_eq!(listed, expected);
    assert_eq!(s.list("data").await.unwrap(), vec!["top"], "not recursive");
    let one: Vec<String> = s.list("data/03").await.unwrap();
    assert_eq!(
        one.len(),
        names.iter().filter(|n| n.starts_with("03/")).count()
    );
}

pub async fn deletes(b: Backend) {
    let s = &b.storage;
    for i in 0..20 {
        s.write(&format!("index/{i:02}"), vec![i; 10])
            .await
            .unwrap();
    }
    for i in (0..20).step_by(2) {
        s.delete(&format!("index/{i:02}")).await.unwrap();
    }
    let left = s.list("index").await.unwrap();
    assert_eq!(
        left,
        (1..20)
            .step_by(2)
            .map(|i| format!("{i:02}"))
            .collect::<Vec<_>>()
    );
    for name in left {
        s.delete(&format!("index/{name}")).await.unwrap();
    }
    assert!(s.list("index").await.unwrap().is_empty());
}

pub async fn create_if_absent_has_one_winner(b: Backend) {
    let s = Arc::new(b.storage.clone());
    if !b.enforces_create_if_absent() {
        return;
    }
    s.write_if_not_exists("locks/first", vec![1]).await.unwrap();
    let err = s
        .write_if_not_exists("locks/first", vec![2])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
    assert_eq!(s.read("locks/first").await.unwrap(), vec![1]);
    if !b.atomic_create() {
        return;
    }
    for round in 0..5 {
        let name = format!("locks/race-{round}");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..6u8 {
            let s = s.clone();
            let name = name.clone();
            tasks.spawn(async move {
                match s.write_if_not_exists(&name, vec![i; 64]).await {
                    Ok(()) => Some(i),
                    Err(StorageError::AlreadyExists { .. }) => None,
                    Err(e) => panic!("{e}"),
                }
            });
        }
        let mut winners = Vec::new();
        while let Some(t) = tasks.join_next().await {
            winners.extend(t.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(s.read(&name).await.unwrap(), vec![winners[0]; 64]);
    }
    let err = s
        .write_if_not_exists("locks/race-0", vec![9])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
}
