//! One-time codes (RFC 6238 TOTP: HMAC-SHA1, 6 digits, 30-second steps,
//! what every authenticator app speaks) for local users: new secrets,
//! their `otpauth://` URI and QR code for enrollment, and checking a code
//! against the steps around now. Replays are refused by the caller, which
//! records the step a code was accepted for (`Store::use_totp_step`).

use totp_rs::{Algorithm, Builder, Secret};

/// Seconds a code lasts.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
const DIGITS: u8 = 6;
/// Steps before and after now that are accepted (clock drift).
const SKEW: u16 = 1;
/// The issuer shown in authenticator apps.
const ISSUER: &str = "tresor";

/// A new random secret (160 bits, as RFC 4226 recommends), base32.
pub fn new_secret() -> String {
    let mut b = vec![0u8; 20];
    rand::fill(&mut b[..]);
    Secret::new(b.into_boxed_slice()).to_base32()
}

fn totp(secret_b32: &str, digits: u8) -> Option<totp_rs::Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(SKEW)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .build()
        .ok()
}

/// The time step a code is valid for, if it is one of the secret's codes
/// for the step of `unix_time` or the one before or after. The caller
/// must still refuse a step at or before the last one accepted.
pub fn check(secret_b32: &str, code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret_b32, DIGITS)?.check(&code, unix_time)
}

/// The code of `unix_time`.
#[cfg(test)]
pub fn code_at(secret_b32: &str, unix_time: u64) -> Option<String> {
    Some(totp(secret_b32, DIGITS)?.generate(unix_time).to_string())
}

/// Now, in seconds since 1970.
pub fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// The `otpauth://` URI authenticator apps import (by QR code or pasted).
pub fn otpauth_uri(secret_b32: &str, account: &str) -> String {
    let enc = percent_encode;
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(ISSUER),
        enc(account),
        enc(ISSUER)
    )
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The URI as a QR code, an SVG image (black modules on white, with the
/// quiet zone); none if the text does not fit a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 secret is the ASCII
    /// "12345678901234567890".
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_test_vectors() {
        let eight = totp(RFC_SECRET, 8).expect("totp");
        for (time, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(eight.generate(time).to_string(), code, "at {time}");
            // six digits are the last six of the eight
            assert_eq!(
                code_at(RFC_SECRET, time).as_deref(),
                Some(&code[2..]),
                "at {time}"
            );
            assert_eq!(
                check(RFC_SECRET, &code[2..], time),
                Some(time / STEP_SECONDS)
            );
        }
    }

    #[test]
    fn codes_of_the_neighbouring_steps_pass_and_others_do_not() {
        let t = 1_234_567_890;
        let code = code_at(RFC_SECRET, t).expect("code");
        assert_eq!(check(RFC_SECRET, &code, t + 30), Some(t / 30));
        assert_eq!(check(RFC_SECRET, &code, t - 30), Some(t / 30));
        assert_eq!(check(RFC_SECRET, &code, t + 90), None);
        assert_eq!(check(RFC_SECRET, "000000", t), None);
        assert_eq!(check(RFC_SECRET, "12345", t), None);
        assert_eq!(check(RFC_SECRET, "abcdef", t), None);
        assert_eq!(
            check(RFC_SECRET, &format!("{} {}", &code[..3], &code[3..]), t),
            Some(t / 30)
        );
        assert_eq!(check("not base32!", &code, t), None);
    }

    #[test]
    fn new_secrets_differ_and_work() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let code = code_at(&a, 1000).expect("code");
        assert_eq!(check(&a, &code, 1000), Some(1000 / 30));
    }

    #[test]
    fn the_uri_names_the_account_and_the_qr_code_is_an_svg() {
        let uri = otpauth_uri("ABC", "ada lovelace");
        assert_eq!(
            uri,
            "otpauth://totp/tresor:ada%20lovelace?secret=ABC&issuer=tresor&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).expect("svg");
        assert!(
            svg.starts_with("<svg") && svg.contains("<path d=\"M"),
            "{svg}"
        );
    }
}
