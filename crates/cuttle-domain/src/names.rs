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
    if name.chars().any(|c| is_unseen(c) && !JOINERS.contains(&c)) {
        return Err(
            "a name cannot contain characters that draw nothing or change how text around them is shown (bidirectional controls, zero-width spaces, soft hyphens, white space other than the space, …), so that two names that look the same are the same",
        );
    }
    Ok(())
}

/// The zero-width joiners, which writing systems (Persian, the Indic scripts) and emoji
/// sequences need: allowed in names, and shown escaped in messages.
const JOINERS: [char; 2] = ['\u{200C}', '\u{200D}'];

/// Whether a message must not print `c` as it is: a control character (C0, DEL, C1: they can
/// retitle, clear or rewrite a terminal), white space other than the space, a format character
/// (the bidirectional controls, zero-width spaces and joiners, the byte order mark, tags), or a
/// character that draws nothing (fillers, the blank pattern).
pub fn is_unseen(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Text from the input (a file name, a path, a name) as a message shows it on one line: every
/// character that [`is_unseen`] written as `\u{…}` (and `\` as `\\` then, so that the
/// escape cannot be forged), the rest as it is. Borrowed when nothing needs escaping.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    escaped(text, is_unseen)
}

/// A whole message for a terminal: as [`visible`], but its line breaks (and tabs) stay, since a
/// message's own lines are its structure.
pub fn visible_lines(text: &str) -> std::borrow::Cow<'_, str> {
    escaped(text, |c| is_unseen(c) && c != '\n' && c != '\t')
}

fn escaped(text: &str, unseen: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(&unseen) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_escaped(&mut out, c, unseen(c), false);
    }
    std::borrow::Cow::Owned(out)
}

/// Pushes `c`: as `\u{…}` when `unseen`, `\` (and, when `quote`, `"`) escaped with a backslash,
/// otherwise as it is.
fn push_escaped(out: &mut String, c: char, unseen: bool, quote: bool) {
    if unseen {
        use std::fmt::Write as _;
        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
    } else if c == '\\' || (quote && c == '"') {
        out.push('\\');
        out.push(c);
    } else {
        out.push(c);
    }
}

/// A name from the input as a message quotes it: in double quotes, what [`is_unseen`] and the
/// quote and backslash escaped, shortened past [`MAX_NAME_CHARS`] characters (a hostile name
/// of 100,000 characters is not echoed whole).
pub fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(4 * MAX_NAME_CHARS) + 2);
    out.push('"');
    for c in name.chars().take(MAX_NAME_CHARS) {
        push_escaped(&mut out, c, is_unseen(c), true);
    }
    match name.char_indices().nth(MAX_NAME_CHARS) {
        None => out.push('"'),
        Some(_) => {
            use std::fmt::Write as _;
            let _ = write!(out, "…\" ({} characters in all)", name.chars().count());
        }
    }
    out
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
        for unseen in [
            "Prod\u{202E}",
            "Pr\u{200B}od",
            "Pro\u{00A0}d",
            "Pr\u{AD}od",
            "\u{3164}x",
        ] {
            assert!(check(unseen).is_err(), "{unseen:?}");
        }
        // Persian needs the zero-width non-joiner; emoji sequences the joiner.
        assert!(check("می\u{200C}خواهم").is_ok());
        assert!(check("👩\u{200D}💻 team").is_ok());
    }

    #[test]
    fn messages_show_what_cannot_be_seen() {
        assert_eq!(visible("environments/prod.json"), "environments/prod.json");
        assert_eq!(visible("esc\u{1b}[2J.json"), "esc\\u{001b}[2J.json");
        assert_eq!(visible("a\nb\\c\u{202e}"), "a\\u{000a}b\\\\c\\u{202e}");
        assert_eq!(visible_lines("one\ntwo\u{9b}"), "one\ntwo\\u{009b}");
        assert_eq!(quoted("We\"b\u{200d}"), "\"We\\\"b\\u{200d}\"");
        let long = quoted(&"x".repeat(100_000));
        assert!(
            long.len() < 300 && long.ends_with("(100000 characters in all)"),
            "{long}"
        );
    }
}
