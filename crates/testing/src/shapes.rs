//! Helpers for insta snapshots of JSON and text output: numbers kept as
//! numbers, and what differs between runs (random ids, stored sizes,
//! temporary paths, clock times) replaced by stable placeholders.

use insta::internals::Content;
use serde_json::Value;

/// `v` as insta content. The workspace's `serde_json` keeps the text of
/// numbers (`arbitrary_precision`), which insta would otherwise write as
/// a private wrapper object. Every string passes through [`scrub`].
pub fn content(v: &Value) -> Content {
    match v {
        Value::Null => Content::None,
        Value::Bool(b) => Content::Bool(*b),
        Value::Number(n) => n
            .as_u64()
            .map(Content::U64)
            .or_else(|| n.as_i64().map(Content::I64))
            .unwrap_or_else(|| Content::F64(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => Content::from(scrub(s)),
        Value::Array(a) => Content::Seq(a.iter().map(content).collect()),
        Value::Object(o) => Content::Map(
            o.iter()
                .map(|(k, v)| (Content::from(k.clone()), content(v)))
                .collect(),
        ),
    }
}

/// Replaces lowercase hex words of 8 or more characters (snapshot ids,
/// digests) with `########` of the same length, so columns stay aligned,
/// and the stored size in "(N new)" with `[n]`.
pub fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.len() >= 8
            && word
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && word.bytes().any(|b| b.is_ascii_digit());
        if hex {
            out.push_str(&"#".repeat(word.len()));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    if let Some(i) = out.find(" new)") {
        let start = out[..i].rfind('(').map_or(i, |p| p + 1);
        out.replace_range(start..i, "[n]");
    }
    out
}

/// Replaces clock times `YYYY-MM-DD hh:mm:ss` (or with a `T`) by a
/// placeholder of the same length.
pub fn scrub_times(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let digits = |r: std::ops::Range<usize>| {
        r.into_iter()
            .all(|k| b.get(k).is_some_and(u8::is_ascii_digit))
    };
    while i < b.len() {
        let is_time = digits(i..i + 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5..i + 7)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8..i + 10)
            && matches!(b.get(i + 10), Some(b' ' | b'T'))
            && digits(i + 11..i + 13)
            && b.get(i + 13) == Some(&b':')
            && digits(i + 14..i + 16)
            && b.get(i + 16) == Some(&b':')
            && digits(i + 17..i + 19);
        if is_time {
            out.push_str("YYYY-MM-DD hh:mm:ss");
            i += 19;
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_keeps_widths_and_words() {
        assert_eq!(
            scrub("snapshot 1ecc952a saved, 10 B (642 new)"),
            "snapshot ######## saved, 10 B ([n] new)"
        );
        assert_eq!(scrub("customers deadbeef"), "customers deadbeef");
        assert_eq!(
            scrub_times("at 2026-12-05 07:46:54 and 2026-12-05T07:46:54.1Z"),
            "at YYYY-MM-DD hh:mm:ss and YYYY-MM-DD hh:mm:ss.1Z"
        );
        let v = serde_json::json!({"n": 5, "id": "0123abcd"});
        let c = content(&v);
        assert!(format!("{c:?}").contains("U64(5)"), "{c:?}");
    }
}
