//! SQL text: quoting identifiers, and the whole seconds of a lock wait.

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

/// `wait` as the whole seconds, at least one, the server's lock wait
/// settings take.
pub(crate) fn wait_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote("a`b"), "`a``b`");
    }

    #[test]
    fn lock_waits_round_up_to_whole_seconds() {
        assert_eq!(wait_secs(Duration::ZERO), 1);
        assert_eq!(wait_secs(Duration::from_millis(1500)), 2);
        assert_eq!(wait_secs(Duration::from_secs(30)), 30);
        assert_eq!(wait_secs(Duration::from_secs(600)), 600);
    }
}
