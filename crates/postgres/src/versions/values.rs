//! Values of types an older server lacks, rewritten into a type it has.

/// A multirange's text (`{[1,3),[5,7)}`) as the text of an array of its
/// ranges (`{"[1,3)","[5,7)"}`), which casts to `int4range[]` and the
/// like on servers without multiranges.
pub(super) fn multirange_to_array(text: &str) -> Result<String, String> {
    let bad = || format!("not a multirange: {text:?}");
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut ranges: Vec<String> = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(open) = chars.next() else { break };
        if open != '[' && open != '(' {
            return Err(bad());
        }
        let mut range = String::from(open);
        let mut quoted = false;
        loop {
            let c = chars.next().ok_or_else(bad)?;
            range.push(c);
            match c {
                '\\' => range.push(chars.next().ok_or_else(bad)?),
                '"' if quoted && chars.peek() == Some(&'"') => {
                    range.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ']' | ')' if !quoted => break,
                _ => {}
            }
        }
        ranges.push(range);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return Err(bad()),
        }
    }
    let elements: Vec<String> = ranges
        .iter()
        .map(|r| format!("\"{}\"", r.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    Ok(format!("{{{}}}", elements.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_array_elements() {
        assert_eq!(multirange_to_array("{}").expect("a multirange"), "{}");
        assert_eq!(
            multirange_to_array("{[1,3),[5,7)}").expect("a multirange"),
            r#"{"[1,3)","[5,7)"}"#
        );
        assert_eq!(
            multirange_to_array(r#"{["2024-01-01 00:00:00+00","2024-02-01 00:00:00+00")}"#)
                .expect("a multirange"),
            r#"{"[\"2024-01-01 00:00:00+00\",\"2024-02-01 00:00:00+00\")"}"#
        );
        // a bound holding a bracket, a doubled quote and a backslash
        assert_eq!(
            multirange_to_array(r#"{["a)""b","c\\d"]}"#).expect("a multirange"),
            r#"{"[\"a)\"\"b\",\"c\\\\d\"]"}"#
        );
        assert!(multirange_to_array("[1,2)").is_err());
        assert!(multirange_to_array("{[1,2)").is_err());
    }
}
