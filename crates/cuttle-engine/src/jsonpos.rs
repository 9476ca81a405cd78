//! Where a JSON path stands in a document's text: line and column, for error messages.
//!
//! serde_json keeps no spans, so [`locate`] scans the text itself: one pass over the whole
//! document with an explicit stack (no recursion, nesting capped at [`MAX_DEPTH`]), noting where
//! each value along the pointer's path starts. Duplicate member names resolve as in serde_json:
//! the last one wins.

/// Deepest nesting of objects and arrays [`locate`] accepts; deeper documents give `None`.
pub const MAX_DEPTH: usize = 512;

/// A 1-based line and column (column counted in characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where the value at `pointer` (RFC 6901, `""` for the root) starts in `text`.
///
/// For an object member this is the position of the member's value. If the pointer names an
/// object member that does not exist, the result is the position of the enclosing object's `{`
/// (so that "missing field" errors point at the object); likewise an array index past the end
/// gives the array's `[`. When several levels are missing, the deepest existing object or array
/// is named. `None` when the text is not JSON (a leading UTF-8 BOM is allowed), nests deeper than
/// [`MAX_DEPTH`], or the pointer does not lead anywhere at all (it goes through a number, string,
/// literal, or uses a token that is no index into an array).
pub fn locate(text: &str, pointer: &str) -> Option<Position> {
    locate_offset(text, pointer).map(|offset| position(text, offset))
}

/// One token of a JSON pointer: the unescaped member name, and the array index it denotes.
struct Token {
    name: String,
    index: Option<usize>,
}

/// Splits and unescapes a JSON pointer; `None` unless it is empty or starts with `/`.
fn tokens(pointer: &str) -> Option<Vec<Token>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let tokens = pointer.strip_prefix('/')?.split('/').map(|raw| {
        let name = raw.replace("~1", "/").replace("~0", "~");
        // As serde_json's `Value::pointer`: no sign, no leading zeros.
        let canonical = !name.starts_with('+') && (name == "0" || !name.starts_with('0'));
        let index = canonical.then(|| name.parse().ok()).flatten();
        Token { name, index }
    });
    Some(tokens.collect())
}

/// One open object or array during the scan.
struct Frame {
    is_object: bool,
    /// Whether this container's path is a prefix of the pointer.
    on_path: bool,
    /// Index of the current element or member.
    index: usize,
    /// Whether the current element or member is on the pointer's path.
    child_on_path: bool,
}

/// The byte offset of the value [`locate`] reports.
fn locate_offset(text: &str, pointer: &str) -> Option<usize> {
    let tokens = tokens(pointer)?;
    let mut s = Scanner {
        text,
        pos: body_start(text),
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut key = String::new();
    // `found[d]` for `d <= deepest`: where the value at the pointer's first `d` tokens starts.
    // A later duplicate member at depth `d` sets `deepest = d`, dropping the stale chain below.
    let mut found = vec![0; tokens.len() + 1];
    let mut deepest = 0;
    loop {
        // A value starts here.
        s.skip_ws();
        let depth = stack.len();
        let on_path = stack.last().is_none_or(|f| f.child_on_path);
        if on_path {
            found[depth] = s.pos;
            deepest = depth;
        }
        match s.peek()? {
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                s.pos += 1;
                s.skip_ws();
                let is_object = open == b'{';
                let mut frame = Frame {
                    is_object,
                    on_path,
                    index: 0,
                    child_on_path: false,
                };
                if !s.eat(if is_object { b'}' } else { b']' }) {
                    s.child(&mut frame, tokens.get(depth), &mut key)?;
                    stack.push(frame);
                    continue;
                }
            }
            b'"' => s.string(None)?,
            b'-' | b'0'..=b'9' => s.number()?,
            _ => s.literal()?,
        }
        // The value is complete: close the containers it completes, then go on to the next
        // member or element.
        loop {
            s.skip_ws();
            let depth = stack.len();
            let Some(frame) = stack.last_mut() else {
                return if s.pos == text.len() {
                    resolve(&s, &tokens, &found, deepest)
                } else {
                    None
                };
            };
            if s.eat(b',') {
                frame.index += 1;
                s.child(frame, tokens.get(depth - 1), &mut key)?;
                break;
            }
            if !s.eat(if frame.is_object { b'}' } else { b']' }) {
                return None;
            }
            stack.pop();
        }
    }
}

/// The answer once the whole text has been scanned: the value the pointer names, or failing
/// that, the deepest object or array on its path that could hold the missing member or element.
fn resolve(s: &Scanner, tokens: &[Token], found: &[usize], deepest: usize) -> Option<usize> {
    let offset = found[deepest];
    let Some(missing) = tokens.get(deepest) else {
        return Some(offset);
    };
    match s.text.as_bytes()[offset] {
        b'{' => Some(offset),
        b'[' if missing.index.is_some() => Some(offset),
        _ => None,
    }
}

/// The 1-based line and column of byte `offset` in `text`, after any BOM. CRLF, LF and a lone
/// CR each end a line.
fn position(text: &str, offset: usize) -> Position {
    let (mut line, mut column) = (1, 1);
    let mut chars = text[body_start(text)..offset].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => (line, column) = (line + 1, 1),
            _ => column += 1,
        }
    }
    Position { line, column }
}

/// Where the JSON text starts: after the UTF-8 byte order mark, if any.
fn body_start(text: &str) -> usize {
    if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

/// A cursor over the text; every method returns `None` on text that is not JSON.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.pos += usize::from(hit);
        hit
    }

    /// Consumes `byte`, which must come next.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Starts the next member (reading its name and colon) or element of `frame`, whose pointer
    /// token at that depth is `token`, and notes whether it is on the pointer's path.
    fn child(&mut self, frame: &mut Frame, token: Option<&Token>, key: &mut String) -> Option<()> {
        let token = token.filter(|_| frame.on_path);
        frame.child_on_path = if frame.is_object {
            self.skip_ws();
            key.clear();
            self.string(token.is_some().then_some(&mut *key))?;
            self.skip_ws();
            self.expect(b':')?;
            token.is_some_and(|t| t.name == *key)
        } else {
            token.is_some_and(|t| t.index == Some(frame.index))
        };
        Some(())
    }

    /// Reads a string starting at its opening quote, appending its decoded text to `out`.
    fn string(&mut self, mut out: Option<&mut String>) -> Option<()> {
        self.expect(b'"')?;
        let mut run = self.pos;
        loop {
            let byte = self.peek()?;
            if let (b'"' | b'\\', Some(out)) = (byte, out.as_deref_mut()) {
                out.push_str(&self.text[run..self.pos]);
            }
            self.pos += 1;
            match byte {
                b'"' => return Some(()),
                b'\\' => {
                    let escape = self.peek()?;
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    if let Some(out) = out.as_deref_mut() {
                        out.push(c);
                    }
                    run = self.pos;
                }
                ..0x20 => return None,
                _ => {}
            }
        }
    }

    /// The character of a `\u` escape whose `\u` has been read, joining a surrogate pair.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high); // A lone low surrogate gives `None`.
        }
        self.expect(b'\\')?;
        self.expect(b'u')?;
        let low = self.hex4().filter(|low| (0xDC00..0xE000).contains(low))?;
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// Reads a number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        if !self.eat(b'0') {
            self.digits()?;
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _sign = self.eat(b'+') || self.eat(b'-');
            self.digits()?;
        }
        Some(())
    }

    /// Reads one or more decimal digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        (self.pos > start).then_some(())
    }

    /// Reads `true`, `false` or `null`.
    fn literal(&mut self) -> Option<()> {
        let rest = &self.text.as_bytes()[self.pos..];
        let word = ["true", "false", "null"]
            .into_iter()
            .find(|w| rest.starts_with(w.as_bytes()))?;
        self.pos += word.len();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn pretty_printed_document() {
        let text = "{\n  \"name\": \"x\",\n  \"variables\": [\n    {\"scope\": {\"environments\": [\"prod\", 7]}},\n    null\n  ]\n}\n";
        assert_eq!(locate(text, ""), at(1, 1));
        assert_eq!(locate(text, "/name"), at(2, 11));
        assert_eq!(locate(text, "/variables"), at(3, 16));
        assert_eq!(locate(text, "/variables/0"), at(4, 5));
        assert_eq!(locate(text, "/variables/0/scope/environments/0"), at(4, 33));
        assert_eq!(locate(text, "/variables/0/scope/environments/1"), at(4, 41));
        assert_eq!(locate(text, "/variables/1"), at(5, 5));
    }

    #[test]
    fn minified_document_and_nested_arrays() {
        let text = r#"{"a":[[1,2],[3,[4,{"b":true}]]],"c":-1.5e3}"#;
        assert_eq!(locate(text, "/a/1/1/1/b"), at(1, 24));
        assert_eq!(locate(text, "/a/1/1/0"), at(1, 17));
        assert_eq!(locate(text, "/a/0/1"), at(1, 10));
        assert_eq!(locate(text, "/c"), at(1, 37));
    }

    #[test]
    fn escaped_member_names_and_pointer_escapes() {
        let text =
            r#"{"q\"\\": 1, "\u00e9t\u00E9": 2, "\ud83d\ude00": 3, "a/b": 4, "m~n": 5, "~1": 6}"#;
        assert_eq!(locate(text, "/q\"\\"), at(1, 11));
        assert_eq!(locate(text, "/été"), at(1, 31));
        assert_eq!(locate(text, "/😀"), at(1, 50));
        assert_eq!(locate(text, "/a~1b"), at(1, 60));
        assert_eq!(locate(text, "/m~0n"), at(1, 70));
        assert_eq!(locate(text, "/~01"), at(1, 79));
    }

    #[test]
    fn crlf_bom_and_non_ascii() {
        let text = "{\r\n  \"a\": 1,\r\n  \"b\": [\r\n\r\n    true]\r\n}";
        assert_eq!(locate(text, "/a"), at(2, 8));
        assert_eq!(locate(text, "/b/0"), at(5, 5));
        let bom = format!("\u{feff}{text}");
        assert_eq!(locate(&bom, ""), at(1, 1));
        assert_eq!(locate(&bom, "/b/0"), at(5, 5));
        let wide = r#"{"名前": "ça — 😀", "x": 1}"#;
        assert_eq!(locate(wide, "/x"), at(1, 23));
    }

    #[test]
    fn missing_members_point_at_the_enclosing_container() {
        let text = "{\n  \"a\": {\"b\": 1},\n  \"l\": [ 1, 2 ]\n}";
        assert_eq!(locate(text, "/a/zz"), at(2, 8));
        assert_eq!(locate(text, "/zz"), at(1, 1));
        assert_eq!(locate(text, "/a/zz/deeper"), at(2, 8));
        assert_eq!(locate(text, "/l/2"), at(3, 8));
        assert_eq!(locate(text, "/l/-"), None);
        assert_eq!(locate(text, "/l/01"), None);
        assert_eq!(locate(text, "/a/b/c"), None);
        assert_eq!(locate(text, "a"), None);
    }

    #[test]
    fn duplicate_members_last_one_wins() {
        let text = r#"{"a": {"b": 1}, "a": {"c": 2}}"#;
        assert_eq!(locate(text, "/a"), at(1, 22));
        assert_eq!(locate(text, "/a/b"), at(1, 22));
        assert_eq!(locate(text, "/a/c"), at(1, 28));
        assert_eq!(locate(r#"{"a": {"b": 1}, "a": 5}"#, "/a/b"), None);
    }

    #[test]
    fn invalid_json_gives_none() {
        for text in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1] 2",
            "01",
            "-",
            "1.",
            "1e",
            "tru",
            "nul",
            "\"abc",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\nb\"",
            "[1}",
            "{\"a\":1]",
            "{1:2}",
            "\u{feff}\u{feff}1",
        ] {
            assert_eq!(locate(text, ""), None, "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        assert_eq!(locate(&"[".repeat(100_000), ""), None);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(locate(&deep, "/0"), None);
        let ok = format!("{}7{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(locate(&ok, &"/0".repeat(MAX_DEPTH)), at(1, MAX_DEPTH + 1));
    }

    /// Every pointer reachable in `value`, escaped.
    fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (name, child) in map {
                    let token = name.replace('~', "~0").replace('/', "~1");
                    pointers(child, format!("{prefix}/{token}"), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    pointers(child, format!("{prefix}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(prefix);
    }

    #[test]
    fn every_pointer_starts_its_value() {
        let documents = [
            json!({"name": "x", "variables": [{"scope": {"environments": ["a", "b"]}}, null]}),
            json!([[], {}, [[1, [2.5, -3e-2]]], {"": {"": 0}}, "é😀"]),
            json!({"a/b": {"m~n": [true, false]}, "q\"\\": "\u{1}\n", "名": {"x": [1]}}),
            json!(42),
        ];
        let mut texts: Vec<String> = Vec::new();
        for value in &documents {
            texts.push(serde_json::to_string(value).unwrap());
            texts.push(
                serde_json::to_string_pretty(value)
                    .unwrap()
                    .replace('\n', "\r\n"),
            );
        }
        texts.push(r#"{"a": [1, {"b": 2}], "\u0061": {"b": ["\ud83d\ude00"]}}"#.to_owned());
        for text in &texts {
            let value: Value = serde_json::from_str(text).unwrap();
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            for pointer in all {
                let offset = locate_offset(text, &pointer).unwrap();
                assert!(locate(text, &pointer).is_some());
                let found = serde_json::Deserializer::from_str(&text[offset..])
                    .into_iter::<Value>()
                    .next()
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    Some(&found),
                    value.pointer(&pointer),
                    "{pointer:?} in {text}"
                );
            }
        }
    }
}
