//! SQL text: quoting identifiers.

/// Quotes an identifier with backticks (doubling any backtick inside).
pub(crate) fn quote(ident: &str) -> String {
    let mut s = String::with_capacity(ident.len() + 2);
    s.push('`');
    for c in ident.chars() {
        if c == '`' {
            s.push('`');
        }
        s.push(c);
    }
    s.push('`');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote("a`b"), "`a``b`");
    }
}
