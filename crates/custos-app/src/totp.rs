//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 30-second steps,
//! six digits, what every authenticator app reads from an `otpauth://` URI. Written here over
//! the `hmac` and `sha1` crates the tree already holds (the TOTP crates pull older versions of
//! both); the RFC's own test vectors check it.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per time step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps either side of now a code is accepted for (a phone's clock a little off).
const SKEW_STEPS: i64 = 1;

/// A new random 160-bit key (RFC 4226 recommends 160 bits), base32 as apps expect it.
pub fn new_key() -> Result<String, crate::AppError> {
    let mut key = [0u8; 20];
    getrandom::fill(&mut key)
        .map_err(|e| crate::AppError::Invalid(format!("no randomness available: {e}")))?;
    Ok(data_encoding::BASE32_NOPAD.encode(&key))
}

fn decode(key: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(key.trim_end_matches('=').as_bytes())
        .ok()
}

/// The code of `key` (raw bytes) for time step `step`, with `digits` digits (RFC 4226, 5.3).
fn code_at(key: &[u8], step: i64, digits: u32) -> Option<u32> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.last()? & 0x0f);
    let bytes: [u8; 4] = digest.get(offset..offset + 4)?.try_into().ok()?;
    let binary = u32::from_be_bytes(bytes) & 0x7fff_ffff;
    Some(binary % 10u32.pow(digits))
}

/// The step a Unix time falls in.
pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The time step `code` is right for, near `unix_seconds`; None when it is not right (or the
/// key is not base32). Compared in constant time.
pub fn verify(key: &str, code: &str, unix_seconds: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = decode(key)?;
    let now = step_of(unix_seconds);
    let mut found = None;
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let expected = format!(
            "{:0width$}",
            code_at(&key, step, DIGITS)?,
            width = DIGITS as usize
        );
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The code for now: what an authenticator app shows (for tests and for the demo).
pub fn current_code(key: &str, unix_seconds: i64) -> Option<String> {
    let key = decode(key)?;
    let code = code_at(&key, step_of(unix_seconds), DIGITS)?;
    Some(format!("{code:0width$}", width = DIGITS as usize))
}

/// The `otpauth://` URI an app scans or is given (Key Uri Format: issuer, account, key).
pub fn uri(issuer: &str, account: &str, key: &str) -> String {
    let encode = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={key}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(issuer),
        encode(account),
        encode(issuer)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// RFC 6238, Appendix B: SHA-1, the ASCII key "12345678901234567890", eight digits.
    #[test]
    fn the_rfc_6238_test_vectors_hold() {
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(code_at(key, step_of(time), 8), Some(expected), "T = {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_not_further() {
        let key = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        let now = 1_234_567_890;
        let code = current_code(&key, now).unwrap();
        assert_eq!(verify(&key, &code, now), Some(step_of(now)));
        assert_eq!(verify(&key, &code, now + STEP_SECONDS), Some(step_of(now)));
        assert_eq!(verify(&key, &code, now - STEP_SECONDS), Some(step_of(now)));
        assert_eq!(verify(&key, &code, now + 3 * STEP_SECONDS), None);
        assert_eq!(verify(&key, "12345", now), None, "five digits");
        assert_eq!(verify(&key, "abcdef", now), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(verify(&key, &spaced, now), Some(step_of(now)));
    }

    #[test]
    fn the_uri_names_the_issuer_account_and_key() {
        assert_eq!(
            uri("Custos", "ana@example.com", "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/Custos:ana%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Custos&algorithm=SHA1&digits=6&period=30"
        );
    }
}
