//! The register image's encoding: a compact binary form of any serde value in which a
//! struct's fields are known by their position and an enum's variants by their index, so
//! that reading an entry back neither matches names nor scans text.
//!
//! Written by hand because no maintained format does both: positional formats (bincode,
//! postcard) lose a field left out by `skip_serializing_if`, which the model uses throughout,
//! and self-describing ones (MessagePack, CBOR) name every field of every entry. Here each
//! field of a struct is written in order, a left-out one as one `ABSENT` byte, so the reader
//! knows every field's position, and every value carries a one-byte tag, so `deserialize_any`
//! (an untagged location) works. The encoding is tied to the model's field order: an image
//! records the layout it was written with (`super::image_format`) and is read only by the same.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

/// A field left out (`skip_serializing_if`): the reader takes its default.
const ABSENT: u8 = 0;
const NONE: u8 = 1;
const SOME: u8 = 2;
const UNIT: u8 = 3;
const FALSE: u8 = 4;
const TRUE: u8 = 5;
/// An unsigned integer, LEB128.
const UINT: u8 = 6;
/// A signed integer, zigzag LEB128.
const INT: u8 = 7;
/// An `f64`, little-endian.
const FLOAT: u8 = 8;
/// UTF-8, its length first (LEB128).
const STR: u8 = 9;
const BYTES: u8 = 10;
/// A sequence: its length (u32, little-endian), then its items.
const SEQ: u8 = 11;
/// A map: its length in pairs (u32, little-endian), then key and value of each.
const MAP: u8 = 12;
/// A struct: its number of fields (one byte), then each field, a value or `ABSENT`.
const STRUCT: u8 = 13;
/// An enum's variant: its index (LEB128), then its content (`UNIT` for a unit variant).
const VARIANT: u8 = 14;

/// Why a value could not be encoded or decoded.
#[derive(Debug)]
pub struct FormatError(String);

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

impl ser::Error for FormatError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl de::Error for FormatError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let mut encoder = Encoder {
        out: std::mem::take(out),
        text: String::new(),
    };
    let written = value.serialize(&mut encoder);
    *out = encoder.out;
    written
}

/// Decodes a value from the whole of `input`.
pub fn decode<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T, FormatError> {
    let mut decoder = Decoder { input };
    let value = T::deserialize(&mut decoder)?;
    if decoder.input.is_empty() {
        Ok(value)
    } else {
        Err(FormatError(format!(
            "{} bytes after the value",
            decoder.input.len()
        )))
    }
}

struct Encoder {
    out: Vec<u8>,
    /// Reused for values written through `Display` (ids), so each costs no allocation.
    text: String,
}

impl Encoder {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    fn tagged_varint(&mut self, tag: u8, value: u64) {
        self.out.push(tag);
        self.varint(value);
    }

    fn str(&mut self, text: &str) {
        self.tagged_varint(STR, text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Starts a sequence or map whose length is written when it ends.
    fn counted(&mut self, tag: u8) -> Counted<'_> {
        self.out.push(tag);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        Counted {
            encoder: self,
            at,
            count: 0,
        }
    }

    fn structure(&mut self) -> Fields<'_> {
        self.out.extend_from_slice(&[STRUCT, 0]);
        let at = self.out.len() - 1;
        Fields {
            encoder: self,
            at,
            count: 0,
        }
    }
}

/// A sequence, tuple or map being written: its items counted, the count written at `at`.
struct Counted<'a> {
    encoder: &'a mut Encoder,
    at: usize,
    count: u32,
}

impl Counted<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FormatError> {
        self.count += 1;
        value.serialize(&mut *self.encoder)
    }

    fn end(self) -> Result<(), FormatError> {
        self.encoder.out[self.at..self.at + 4].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }
}

/// A struct being written: every field counted, written or left out.
struct Fields<'a> {
    encoder: &'a mut Encoder,
    at: usize,
    count: u8,
}

impl Fields<'_> {
    fn next(&mut self) -> Result<(), FormatError> {
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| FormatError("a struct of more than 255 fields".to_owned()))?;
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FormatError> {
        self.next()?;
        value.serialize(&mut *self.encoder)
    }

    fn absent(&mut self) -> Result<(), FormatError> {
        self.next()?;
        self.encoder.out.push(ABSENT);
        Ok(())
    }

    fn end(self) -> Result<(), FormatError> {
        self.encoder.out[self.at] = self.count;
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = FormatError;
    type SerializeSeq = Counted<'a>;
    type SerializeTuple = Counted<'a>;
    type SerializeTupleStruct = Counted<'a>;
    type SerializeTupleVariant = Counted<'a>;
    type SerializeMap = Counted<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Fields<'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), FormatError> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), FormatError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), FormatError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), FormatError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), FormatError> {
        self.tagged_varint(INT, ((v << 1) ^ (v >> 63)) as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), FormatError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), FormatError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), FormatError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), FormatError> {
        self.tagged_varint(UINT, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), FormatError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), FormatError> {
        self.out.push(FLOAT);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), FormatError> {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), FormatError> {
        self.str(v);
        Ok(())
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<(), FormatError> {
        use std::fmt::Write;
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        write!(text, "{value}").map_err(|e| FormatError(e.to_string()))?;
        self.str(&text);
        self.text = text;
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), FormatError> {
        self.tagged_varint(BYTES, v.len() as u64);
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), FormatError> {
        self.out.push(NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), FormatError> {
        self.out.push(SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), FormatError> {
        self.out.push(UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), FormatError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), FormatError> {
        self.tagged_varint(VARIANT, index.into());
        self.serialize_unit()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), FormatError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), FormatError> {
        self.tagged_varint(VARIANT, index.into());
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Counted<'a>, FormatError> {
        Ok(self.counted(SEQ))
    }
    fn serialize_tuple(self, _: usize) -> Result<Counted<'a>, FormatError> {
        Ok(self.counted(SEQ))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Counted<'a>, FormatError> {
        Ok(self.counted(SEQ))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Counted<'a>, FormatError> {
        self.tagged_varint(VARIANT, index.into());
        Ok(self.counted(SEQ))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Counted<'a>, FormatError> {
        Ok(self.counted(MAP))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, FormatError> {
        Ok(self.structure())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Fields<'a>, FormatError> {
        self.tagged_varint(VARIANT, index.into());
        Ok(self.structure())
    }
}

macro_rules! counted_items {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Counted<'_> {
            type Ok = ();
            type Error = FormatError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FormatError> {
                self.item(value)
            }
            fn end(self) -> Result<(), FormatError> {
                Counted::end(self)
            }
        }
    )*};
}

counted_items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Counted<'_> {
    type Ok = ();
    type Error = FormatError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), FormatError> {
        // A pair counts once, at its key.
        self.item(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FormatError> {
        value.serialize(&mut *self.encoder)
    }
    fn end(self) -> Result<(), FormatError> {
        Counted::end(self)
    }
}

macro_rules! struct_fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Fields<'_> {
            type Ok = ();
            type Error = FormatError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                value: &T,
            ) -> Result<(), FormatError> {
                self.field(value)
            }
            fn skip_field(&mut self, _: &'static str) -> Result<(), FormatError> {
                self.absent()
            }
            fn end(self) -> Result<(), FormatError> {
                Fields::end(self)
            }
        }
    )*};
}

struct_fields!(SerializeStruct, SerializeStructVariant);

struct Decoder<'de> {
    input: &'de [u8],
}

fn truncated() -> FormatError {
    FormatError("the image ends inside a value".to_owned())
}

impl<'de> Decoder<'de> {
    fn byte(&mut self) -> Result<u8, FormatError> {
        let (&first, rest) = self.input.split_first().ok_or_else(truncated)?;
        self.input = rest;
        Ok(first)
    }

    fn peek(&self) -> Result<u8, FormatError> {
        self.input.first().copied().ok_or_else(truncated)
    }

    fn bytes(&mut self, len: usize) -> Result<&'de [u8], FormatError> {
        if self.input.len() < len {
            return Err(truncated());
        }
        let (taken, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(FormatError("an integer longer than 64 bits".to_owned()))
    }

    fn count(&mut self) -> Result<u32, FormatError> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn length(&mut self) -> Result<usize, FormatError> {
        usize::try_from(self.varint()?).map_err(|_| truncated())
    }

    fn expect(&mut self, tag: u8, what: &str) -> Result<(), FormatError> {
        match self.byte()? {
            found if found == tag => Ok(()),
            found => Err(FormatError(format!("expected {what}, found tag {found}"))),
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = FormatError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormatError> {
        match self.byte()? {
            NONE => visitor.visit_none(),
            SOME => visitor.visit_some(self),
            UNIT => visitor.visit_unit(),
            FALSE => visitor.visit_bool(false),
            TRUE => visitor.visit_bool(true),
            UINT => visitor.visit_u64(self.varint()?),
            INT => {
                let zigzag = self.varint()?;
                visitor.visit_i64(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
            }
            FLOAT => {
                let bytes = self.bytes(8)?;
                let mut array = [0; 8];
                array.copy_from_slice(bytes);
                visitor.visit_f64(f64::from_le_bytes(array))
            }
            STR => {
                let len = self.length()?;
                let text = std::str::from_utf8(self.bytes(len)?)
                    .map_err(|e| FormatError(format!("a text that is not UTF-8: {e}")))?;
                visitor.visit_borrowed_str(text)
            }
            BYTES => {
                let len = self.length()?;
                visitor.visit_borrowed_bytes(self.bytes(len)?)
            }
            SEQ => {
                let left = self.count()?;
                visitor.visit_seq(Items {
                    decoder: self,
                    left,
                })
            }
            MAP => {
                let left = self.count()?;
                visitor.visit_map(Items {
                    decoder: self,
                    left,
                })
            }
            STRUCT => {
                let fields = self.byte()?;
                visitor.visit_map(StructFields {
                    decoder: self,
                    next: 0,
                    fields,
                })
            }
            VARIANT => visitor.visit_enum(self),
            ABSENT => Err(FormatError(
                "a field left out where a value belongs".to_owned(),
            )),
            other => Err(FormatError(format!("an unknown tag {other}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormatError> {
        match self.peek()? {
            NONE => {
                self.byte()?;
                visitor.visit_none()
            }
            SOME => {
                self.byte()?;
                visitor.visit_some(self)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, FormatError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FormatError> {
        self.expect(VARIANT, "an enum's variant")?;
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The items of a sequence, or the pairs of a map.
struct Items<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    left: u32,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = FormatError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FormatError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // Bounded: a corrupt count must not reserve gigabytes.
        Some((self.left as usize).min(4096))
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = FormatError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FormatError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FormatError> {
        seed.deserialize(&mut *self.decoder)
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.left as usize).min(4096))
    }
}

/// A struct's fields, each known to the struct's visitor by its position.
struct StructFields<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    next: u8,
    fields: u8,
}

impl<'de> de::MapAccess<'de> for StructFields<'_, 'de> {
    type Error = FormatError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FormatError> {
        while self.next < self.fields {
            let position = self.next;
            self.next += 1;
            if self.decoder.peek()? == ABSENT {
                self.decoder.byte()?;
                continue;
            }
            let key: de::value::U64Deserializer<FormatError> =
                u64::from(position).into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FormatError> {
        seed.deserialize(&mut *self.decoder)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = FormatError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), FormatError> {
        let index = u32::try_from(self.varint()?)
            .map_err(|_| FormatError("a variant index beyond u32".to_owned()))?;
        let key: de::value::U32Deserializer<FormatError> = index.into_deserializer();
        Ok((seed.deserialize(key)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = FormatError;

    fn unit_variant(self) -> Result<(), FormatError> {
        self.expect(UNIT, "a unit variant")
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, FormatError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, FormatError> {
        de::Deserializer::deserialize_any(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FormatError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        count: i32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kinds: Vec<Kind>,
        tail: u8,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Plain,
        Wrapped(u16),
        Pair(i8, bool),
        Named { at: f64 },
    }

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(value: &T) -> T {
        let mut bytes = Vec::new();
        encode_into(value, &mut bytes).unwrap();
        decode(&bytes).unwrap()
    }

    #[test]
    fn a_field_left_out_keeps_the_positions_of_those_after_it() {
        let sparse = Sample {
            id: "a".into(),
            note: None,
            count: -7,
            kinds: vec![],
            tail: 9,
        };
        assert_eq!(round_trip(&sparse), sparse);
        let full = Sample {
            id: "b".into(),
            note: Some("n".into()),
            count: i32::MIN,
            kinds: vec![
                Kind::Plain,
                Kind::Wrapped(300),
                Kind::Pair(-1, true),
                Kind::Named { at: 0.5 },
            ],
            tail: 255,
        };
        assert_eq!(round_trip(&full), full);
    }

    #[test]
    fn a_truncated_or_extended_encoding_is_refused() {
        let mut bytes = Vec::new();
        encode_into(&vec![1u64, 1 << 40], &mut bytes).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode::<Vec<u64>>(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        bytes.push(UNIT);
        assert!(decode::<Vec<u64>>(&bytes).is_err());
    }
}
