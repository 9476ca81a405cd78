//! Natural keys (SPEC 3, "Names"): NFC-normalised on the way in, then compared byte for byte,
//! case-sensitively.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The NFC form of `name` (borrowed when it is already in NFC, which is nearly always).
pub fn nfc(name: &str) -> std::borrow::Cow<'_, str> {
    match is_nfc_quick(name.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(name),
        _ => std::borrow::Cow::Owned(name.nfc().collect()),
    }
}

/// Checks that `name` can be a natural key; returns what is wrong otherwise.
pub fn check(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name cannot be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("a name is at most 200 characters long");
    }
    if name.chars().any(char::is_control) {
        return Err("a name cannot contain control characters (tabs, line breaks, …)");
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err("a name cannot begin or end with white space");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_nfc() {
        assert_eq!(nfc("Cafe\u{301}"), "Caf\u{e9}");
        assert!(matches!(nfc("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn checks_names() {
        assert!(check("Prod/EU: web.01 ✓").is_ok());
        assert!(check("").is_err());
        assert!(check(" Prod").is_err());
        assert!(check("a\nb").is_err());
        assert!(check(&"x".repeat(201)).is_err());
    }
}
