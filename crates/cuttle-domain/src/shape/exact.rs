//! Reading a typed document in one pass, as exactly as [`super::canonical`] requires: serde
//! reads a typed object from a JSON array of its fields' values too, and lets the last of two
//! equal members of a map win; [`Exact`] does neither, so that a document read through it needs
//! no second reading of its text ([`super::along`]) to be known sound.
//!
//! What a wrapper cannot see, it reports rather than guesses: a value read without its type
//! saying what it is (`deserialize_any`, which serde's tagged enums use to buffer a part of the
//! document and read it again out of sight), when that value holds an array, and a value
//! passed over (`deserialize_ignored_any`). [`read`] says a document with either is unsure, and
//! its text is read again alongside what it became.

use std::cell::Cell;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::{Members, Name};
use crate::json;

/// `T` read from `text` through [`Exact`], and whether the reading was unsure; `None` when it
/// refused the text (the caller reads it again to say why, as before).
pub(super) fn read<'de, T: de::Deserialize<'de>>(text: &'de str) -> Option<(T, bool)> {
    let unsure = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Exact {
        de: &mut de,
        unsure: &unsure,
    })
    .ok()?;
    de.end().ok()?;
    Some((value, unsure.get()))
}

/// A deserializer over `D` that reads a typed object only from an object, and each member of a
/// map once; what it cannot check it marks in `unsure`.
struct Exact<'u, D> {
    de: D,
    unsure: &'u Cell<bool>,
}

/// How a visitor was asked for: what [`Wrap`] does with the arrays and maps it is given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// For a typed object: its visitor refuses a field met twice (serde's derive does).
    Struct,
    /// For a map or a sequence, by type.
    Typed,
    /// Without a type: an array met here may be buffered and read as an object later.
    Any,
}

/// A visitor (or a sequence, a map, an enum) whose inner values are read through [`Exact`].
struct Wrap<'u, X> {
    inner: X,
    unsure: &'u Cell<bool>,
    asked: Asked,
}

impl<'u, X> Wrap<'u, X> {
    fn new(inner: X, unsure: &'u Cell<bool>, asked: Asked) -> Self {
        Wrap {
            inner,
            unsure,
            asked,
        }
    }
}

/// A seed whose value is read through [`Exact`].
struct Seed<'u, S> {
    seed: S,
    unsure: &'u Cell<bool>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Exact {
            de,
            unsure: self.unsure,
        })
    }
}

/// Forwards a `deserialize_*` method to the inner deserializer, its visitor wrapped.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* Wrap::new(visitor, self.unsure, Asked::Typed))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Exact<'_, D> {
    type Error = D::Error;

    forward! {
        deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
        deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16();
        deserialize_u32(); deserialize_u64(); deserialize_u128(); deserialize_f32();
        deserialize_f64(); deserialize_char(); deserialize_str(); deserialize_string();
        deserialize_bytes(); deserialize_byte_buf(); deserialize_option(); deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_any(Wrap::new(visitor, self.unsure, Asked::Any))
    }

    /// A typed object, read from an object only.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_map(Wrap::new(visitor, self.unsure, Asked::Struct))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.unsure.set(true);
        self.de.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Forwards a `visit_*` method of a plain value to the inner visitor.
macro_rules! visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<X::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, X: Visitor<'de>> Visitor<'de> for Wrap<'_, X> {
    type Value = X::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char); visit_str(&str);
        visit_borrowed_str(&'de str); visit_string(String); visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<X::Value, E> {
        self.inner.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<X::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<X::Value, D::Error> {
        self.inner.visit_some(Exact {
            de,
            unsure: self.unsure,
        })
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<X::Value, D::Error> {
        self.inner.visit_newtype_struct(Exact {
            de,
            unsure: self.unsure,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<X::Value, A::Error> {
        if self.asked == Asked::Any {
            self.unsure.set(true);
        }
        self.inner
            .visit_seq(Wrap::new(seq, self.unsure, Asked::Typed))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<X::Value, A::Error> {
        if self.asked == Asked::Struct {
            self.inner
                .visit_map(Wrap::new(map, self.unsure, Asked::Struct))
        } else {
            self.inner.visit_map(Once {
                map,
                unsure: self.unsure,
                members: Members::default(),
            })
        }
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<X::Value, A::Error> {
        self.inner
            .visit_enum(Wrap::new(data, self.unsure, Asked::Typed))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.inner.next_element_seed(Seed {
            seed,
            unsure: self.unsure,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A typed object's members: its visitor refuses a field met twice.
impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(Seed {
            seed,
            unsure: self.unsure,
        })
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(Seed {
            seed,
            unsure: self.unsure,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A map's members, each name met once (as [`json::parse`] requires).
struct Once<'de, 'u, A> {
    map: A,
    unsure: &'u Cell<bool>,
    members: Members<'de>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Once<'de, '_, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(name) = self.map.next_key_seed(Name)? else {
            return Ok(None);
        };
        if !self.members.add(name.clone()) {
            return Err(json::repeated(&name));
        }
        match name {
            std::borrow::Cow::Borrowed(name) => {
                seed.deserialize(BorrowedStrDeserializer::new(name))
            }
            std::borrow::Cow::Owned(name) => seed.deserialize(StringDeserializer::new(name)),
        }
        .map(Some)
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(Seed {
            seed,
            unsure: self.unsure,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

impl<'de, 'u, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<'u, A> {
    type Error = A::Error;
    type Variant = Wrap<'u, A::Variant>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let unsure = self.unsure;
        let (value, variant) = self.inner.variant_seed(Seed { seed, unsure })?;
        Ok((value, Wrap::new(variant, unsure, Asked::Typed)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            seed,
            unsure: self.unsure,
        })
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner
            .tuple_variant(len, Wrap::new(visitor, self.unsure, Asked::Typed))
    }
    /// A struct variant, read from an object only (as [`Exact::deserialize_struct`]).
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        struct Fields<V>(&'static [&'static str], V);
        impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Fields<V> {
            type Value = V::Value;
            fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
                de.deserialize_struct("", self.0, self.1)
            }
        }
        self.inner.newtype_variant_seed(Seed {
            seed: Fields(fields, visitor),
            unsure: self.unsure,
        })
    }
}
