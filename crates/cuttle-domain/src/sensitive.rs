//! Sensitive values (SPEC 3): self-describing JSON objects, so that they can stand anywhere,
//! including free-form maps such as action properties.
//!
//! - `{"secret": "plain text"}`: input only; never printed.
//! - `{"masked": true}`: printed for a value that is set; on input, "keep the stored value".
//! - `{"encrypted": "…"}`: the form in an export (AES-256-SIV under the export password).
//! - `{"sealed": "…"}`: the form at rest inside an instance (AEAD under the master key); never
//!   accepted from outside.
//! - `null`: no value.
//!
//! Nothing here ever prints or repeats a plaintext: not `Debug`, not error messages.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

/// A plaintext secret: zeroized on drop, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(plain: String) -> Self {
        SecretString(Zeroizing::new(plain))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A sensitive value in one of its outside forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sensitive {
    Secret(SecretString),
    Masked,
    Encrypted(String),
}

impl Sensitive {
    pub fn secret(plain: impl Into<String>) -> Self {
        Sensitive::Secret(SecretString::new(plain.into()))
    }
}

pub const SECRET: &str = "secret";
pub const MASKED: &str = "masked";
pub const ENCRYPTED: &str = "encrypted";
pub const SEALED: &str = "sealed";

/// The form of a JSON value that is a sensitive object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Secret,
    Masked,
    Encrypted,
    Sealed,
}

/// Recognises a sensitive object: an object with exactly one member, named `secret`, `masked`,
/// `encrypted` or `sealed`.
pub fn form_of(value: &Value) -> Option<Form> {
    let Value::Object(object) = value else {
        return None;
    };
    if object.len() != 1 {
        return None;
    }
    match object.keys().next().map(String::as_str) {
        Some(SECRET) => Some(Form::Secret),
        Some(MASKED) => Some(Form::Masked),
        Some(ENCRYPTED) => Some(Form::Encrypted),
        Some(SEALED) => Some(Form::Sealed),
        _ => None,
    }
}

/// Whether `value` is an object holding a member that only a sensitive value has (`secret`,
/// `masked`, `encrypted`, `sealed`), with or without other members: what is never shown.
pub fn looks_sensitive(value: &Value) -> bool {
    value.as_object().is_some_and(|o| {
        [SECRET, MASKED, ENCRYPTED, SEALED]
            .iter()
            .any(|k| o.contains_key(*k))
    })
}

/// `value` as a plan or a message may show it: every object in it that [`looks_sensitive`]
/// (a sensitive value in any form, however it was spelt, and a planner's stand-in for one)
/// becomes `{"masked": true}`, "a value is set". No plaintext, ciphertext or digest is left.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(_) if looks_sensitive(value) => masked(),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(name, v)| (name.clone(), redacted(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// `{"masked": true}`.
pub fn masked() -> Value {
    let mut object = serde_json::Map::new();
    object.insert(MASKED.to_owned(), Value::Bool(true));
    Value::Object(object)
}

/// Wipes the plaintext of a `{"secret": …}` object in place.
pub fn wipe(value: &mut Value) {
    if let Value::Object(object) = value
        && let Some(Value::String(plain)) = object.get_mut(SECRET)
    {
        plain.zeroize();
    }
}

impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match self {
            Sensitive::Secret(plain) => map.serialize_entry(SECRET, plain)?,
            Sensitive::Masked => map.serialize_entry(MASKED, &true)?,
            Sensitive::Encrypted(text) => map.serialize_entry(ENCRYPTED, text)?,
        }
        map.end()
    }
}

const EXPECTED: &str = "a sensitive value: an object with exactly one of \"secret\" (plain text, input only), \
     \"masked\": true (keep the stored value) or \"encrypted\", or null";

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn refuse<E: de::Error>(what: &str) -> E {
            // Never echo the value: it may be the plaintext the user meant to protect.
            E::custom(format_args!(
                "a sensitive value must not be given as {what}; expected {EXPECTED} (for example {{\"secret\": \"…\"}})"
            ))
        }
        impl<'de> Visitor<'de> for V {
            type Value = Sensitive;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Sensitive, E> {
                Err(refuse("a plain string"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Sensitive, E> {
                Err(refuse("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Sensitive, E> {
                Err(refuse("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Sensitive, E> {
                Err(refuse("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Sensitive, E> {
                Err(refuse("a number"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Sensitive, A::Error> {
                Err(refuse("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sensitive, A::Error> {
                let mut found: Option<Sensitive> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if found.is_some() {
                        return Err(de::Error::custom(format_args!(
                            "expected {EXPECTED}; found more than one member"
                        )));
                    }
                    found = Some(match key.as_str() {
                        SECRET => match map.next_value::<Value>()? {
                            Value::String(plain) => Sensitive::Secret(SecretString::new(plain)),
                            _ => return Err(de::Error::custom("\"secret\" must hold a string")),
                        },
                        MASKED => match map.next_value::<Value>()? {
                            Value::Bool(true) => Sensitive::Masked,
                            _ => return Err(de::Error::custom("\"masked\" must be true")),
                        },
                        ENCRYPTED => match map.next_value::<Value>()? {
                            Value::String(text) => Sensitive::Encrypted(text),
                            _ => return Err(de::Error::custom("\"encrypted\" must hold a string")),
                        },
                        _ => {
                            return Err(de::Error::custom(format_args!(
                                "unknown member {key:?}; expected {EXPECTED}"
                            )));
                        }
                    });
                }
                found.ok_or_else(|| {
                    de::Error::custom(format_args!("expected {EXPECTED}; found an empty object"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A value in a free-form map (action properties, step template parameter defaults): plain text
/// or a sensitive value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Text(String),
    Sensitive(Sensitive),
}

/// Text, or an object read as a [`Sensitive`] value, so that a malformed one is told what is
/// wrong with it (an untagged enum would only say that nothing matched).
impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropertyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "text, or {EXPECTED}")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Text(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Text(text))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PropertyValue, A::Error> {
                Sensitive::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PropertyValue::Sensitive)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_repeat_the_plaintext() {
        for input in [
            r#""hunter2""#,
            r#"{"secret": "hunter2", "masked": true}"#,
            r#"{"plain": "hunter2"}"#,
        ] {
            let err = serde_json::from_str::<Sensitive>(input)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn a_malformed_property_says_what_is_wrong() {
        for (input, says) in [
            (r#"{"secret": 5}"#, "\"secret\" must hold a string"),
            (r#"{"masked": false}"#, "\"masked\" must be true"),
            (r#"{"plain": "hunter2"}"#, "unknown member"),
            ("5", "text, or a sensitive value"),
        ] {
            let err = serde_json::from_str::<PropertyValue>(input)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{input}: {err}");
            assert!(
                !err.contains("hunter2") && !err.contains("untagged"),
                "{err}"
            );
        }
        assert_eq!(
            serde_json::from_str::<PropertyValue>(r#""text""#).unwrap(),
            PropertyValue::Text("text".into())
        );
    }

    #[test]
    fn debug_is_redacted() {
        let s = Sensitive::secret("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn forms_round_trip() {
        for input in [
            r#"{"secret":"x"}"#,
            r#"{"masked":true}"#,
            r#"{"encrypted":"abc"}"#,
        ] {
            let s: Sensitive = serde_json::from_str(input).unwrap();
            assert_eq!(serde_json::to_string(&s).unwrap(), input);
        }
    }
}
