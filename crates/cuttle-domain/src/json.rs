//! Reading JSON text as people and tools write it, strictly: an object holds each member once.
//!
//! A parser that lets the last of two equal members win (as `serde_json` does) lets a reviewer
//! and the importer read different values from one file (`{"name": "A", "name": "B"}`), so
//! every document, manifest and registry entry Cuttle reads goes through [`parse`], which
//! refuses a repeated member with its position. Its errors say what is wrong in words a person
//! can act on, where `serde_json`'s would mislead (a lone UTF-16 surrogate is not "the end of a
//! hex escape").

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, map::Entry};

/// Why JSON text was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct JsonError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl JsonError {
    /// `error`, met while reading `text`, in words a person can act on.
    pub fn new(text: &str, error: &serde_json::Error) -> JsonError {
        let (line, column) = (error.line(), error.column());
        let full = error.to_string();
        let message = full
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&full);
        let message = if message.ends_with("hex escape") && lone_surrogate(text, line, column) {
            "a \\u escape here is one half of a UTF-16 surrogate pair (\\uD800 to \\uDFFF) \
             without the other: such text is not Unicode; write the character itself, or both \
             halves of its pair"
                .to_owned()
        } else {
            message.to_owned()
        };
        JsonError {
            message,
            line,
            column,
        }
    }
}

/// Whether the line `line` of `text`, up to `column`, holds a `\u` escape of a surrogate.
fn lone_surrogate(text: &str, line: usize, column: usize) -> bool {
    let Some(here) = text.split('\n').nth(line.saturating_sub(1)) else {
        return false;
    };
    let here = &here.as_bytes()[..column.min(here.len())];
    here.windows(6).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && w[2].eq_ignore_ascii_case(&b'd')
            && matches!(w[3].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
            && w[4].is_ascii_hexdigit()
            && w[5].is_ascii_hexdigit()
    })
}

/// Parses one JSON value, refusing an object that holds a member twice.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| JsonError::new(text, &e))?;
    Ok(value)
}

/// What [`parse`] builds with: a JSON value whose objects hold each member once. For readers
/// that build only some of a document (the identifying fields), the parts they do build.
#[derive(Clone, Copy)]
pub struct Strict;

/// The error for a member met twice; never repeats more than the start of a long name.
pub fn repeated<E: de::Error>(name: &str) -> E {
    let shown: String = name.chars().take(80).collect();
    let more = if shown.len() < name.len() { "…" } else { "" };
    E::custom(format_args!(
        "the member {shown:?}{more} appears twice in this object: each member is written once \
         (a reader would take one and a person may read the other)"
    ))
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            match object.entry(name) {
                Entry::Occupied(taken) => return Err(repeated(taken.key())),
                Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(Strict)?);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_member_is_refused_where_it_stands() {
        let e = parse("{\n  \"name\": \"A\",\n  \"name\": \"B\"\n}").unwrap_err();
        assert!(
            e.message.contains(r#"the member "name" appears twice"#),
            "{e}"
        );
        assert_eq!(e.line, 3);
        let e = parse(r#"{"a": [{"x": 1, "y": {"k": 1, "k": 2}}]}"#).unwrap_err();
        assert!(e.message.contains(r#""k""#), "{e}");
        // The same name in different objects is no repetition.
        let v = parse(r#"{"a": {"k": 1}, "b": {"k": 2}, "k": [1, 1.5, -2, null, true]}"#).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": {"k": 1}, "b": {"k": 2}, "k": [1, 1.5, -2, null, true]})
        );
    }

    #[test]
    fn a_long_repeated_name_is_not_echoed_whole() {
        let name = "x".repeat(100_000);
        let e = parse(&format!(r#"{{"{name}": 1, "{name}": 2}}"#)).unwrap_err();
        assert!(e.message.len() < 400, "{}", e.message.len());
    }

    #[test]
    fn a_lone_surrogate_is_called_what_it_is() {
        for text in [
            r#"{"name": "\ud800"}"#,
            r#"{"name": "a\uD83D b"}"#,
            r#"{"name": "\udc00"}"#,
            r#"{"name": "\ud800\u0041"}"#,
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains("surrogate pair"), "{text}: {e}");
        }
        assert_eq!(
            parse(r#"{"name": "\ud83d\ude00"}"#).unwrap()["name"],
            "\u{1f600}"
        );
    }
}
