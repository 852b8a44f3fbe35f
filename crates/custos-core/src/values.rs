//! Values parsed once: a value of these types is valid by construction.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::refdata::ReferenceData;

/// Why a value was refused, phrased as what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl ValueError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Implements `Display` through `as_str`, and `Serialize`/`Deserialize` through
/// `Display`/`FromStr`, so every value read from a manifest, a database row or a request goes
/// through the one parser.
macro_rules! string_value {
    ($ty:ty, $schema_description:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "description": $schema_description})
            }
        }
    };
}

/// A stable identifier written by people: `hypermarket-a`, `dpa-a-b`.
///
/// Lowercase ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit,
/// at most 64 characters.
///
/// Held inline when up to 24 bytes long (most are), so that an id costs no allocation of its own.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Slug(compact_str::CompactString);

impl Slug {
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Slug {
    type Err = ValueError;

    fn from_str(raw: &str) -> Result<Self, ValueError> {
        // Byte by byte, through a table: every allowed character is one byte, and no byte of
        // a longer UTF-8 character is one of them (ten million ids are read at a large
        // register's start).
        const fn allowed() -> [bool; 256] {
            let mut allowed = [false; 256];
            let mut byte = 0;
            while byte < 256 {
                allowed[byte] =
                    matches!(byte as u8, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.');
                byte += 1;
            }
            allowed
        }
        static ALLOWED: [bool; 256] = allowed();
        let valid_start = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let valid_chars = raw.bytes().all(|b| ALLOWED[usize::from(b)]);
        if !valid_start || !valid_chars || raw.len() > Self::MAX_LEN {
            return Err(ValueError::new(format!(
                "expected an id of lowercase letters, digits, '-', '_' or '.', starting with a \
                 letter or digit, at most {} characters; got {raw:?}",
                Self::MAX_LEN
            )));
        }
        Ok(Self(raw.into()))
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Slug {
    fn borrow(&self) -> &str {
        &self.0
    }
}

string_value!(
    Slug,
    "A stable id: lowercase letters, digits, '-', '_' or '.'"
);

/// A time zone of the IANA database (`Europe/Madrid`, `UTC`), as jiff's bundled copy knows it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone itself.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// Every zone name there is, sorted (for a select list): read from the database once.
    pub fn all() -> &'static [String] {
        static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            let mut names: Vec<String> = jiff::tz::db()
                .available()
                .map(|name| name.as_str().to_owned())
                .filter(|name| name.contains('/') || name == "UTC")
                .collect();
            names.sort();
            names.dedup();
            names
        })
    }
}

impl FromStr for TimeZoneName {
    type Err = ValueError;

    fn from_str(raw: &str) -> Result<Self, ValueError> {
        match jiff::tz::TimeZone::get(raw) {
            Ok(zone) => Ok(Self(zone.iana_name().unwrap_or(raw).to_owned())),
            Err(_) => Err(ValueError::new(format!(
                "expected a time zone of the IANA database such as Europe/Madrid; got {raw:?}"
            ))),
        }
    }
}

string_value!(TimeZoneName, "An IANA time zone, e.g. Europe/Madrid");

/// An ISO 3166-1 alpha-2 country code that exists in the reference data (`ES`, `IL`, `US`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub(crate) const fn from_bytes(bytes: [u8; 2]) -> Self {
        Self(bytes)
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII uppercase letters, checked in `from_str`.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for CountryCode {
    type Err = ValueError;

    fn from_str(raw: &str) -> Result<Self, ValueError> {
        let bytes = raw.as_bytes();
        let well_formed = bytes.len() == 2 && bytes.iter().all(u8::is_ascii_uppercase);
        if !well_formed {
            return Err(ValueError::new(format!(
                "expected an ISO 3166-1 alpha-2 country code in capitals such as ES or US; got {raw:?}"
            )));
        }
        let code = Self([bytes[0], bytes[1]]);
        if ReferenceData::builtin().country(code).is_none() {
            return Err(ValueError::new(format!(
                "{raw:?} is not an ISO 3166-1 alpha-2 country code"
            )));
        }
        Ok(code)
    }
}

string_value!(CountryCode, "ISO 3166-1 alpha-2 country code, e.g. ES");

/// An e-mail address, checked for shape only (one `@`, no spaces, a dot in the domain).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = ValueError;

    fn from_str(raw: &str) -> Result<Self, ValueError> {
        let shaped = match raw.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
        if !shaped || raw.len() > Self::MAX_LEN || raw.chars().any(char::is_whitespace) {
            return Err(ValueError::new(format!(
                "expected an e-mail address such as dpo@example.com; got {raw:?}"
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_value!(Email, "An e-mail address");

/// A retention period as an ISO 8601 duration (`P2Y`, `P6M`, `P30D`), kept as written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Retention(String);

impl Retention {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn span(&self) -> jiff::Span {
        // Parsed successfully in `from_str`; the fallback is never taken.
        ISO_DURATION.parse_span(&self.0).unwrap_or_default()
    }
}

/// ISO 8601 only: jiff's `Span::from_str` also takes "2 years", which a manifest must not.
static ISO_DURATION: jiff::fmt::temporal::SpanParser = jiff::fmt::temporal::SpanParser::new();

impl FromStr for Retention {
    type Err = ValueError;

    fn from_str(raw: &str) -> Result<Self, ValueError> {
        let span = ISO_DURATION.parse_span(raw).map_err(|_| {
            ValueError::new(format!(
                "expected an ISO 8601 duration such as P2Y, P6M or P30D; got {raw:?}"
            ))
        })?;
        if span.is_negative() || span.is_zero() {
            return Err(ValueError::new(format!(
                "expected a positive retention period; got {raw:?}"
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_value!(Retention, "An ISO 8601 duration, e.g. P2Y");

/// The JSON Schema of a calendar date (`2025-03-01`), for fields of type [`crate::Date`].
pub struct IsoDate;

impl JsonSchema for IsoDate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date", "description": "A calendar date, YYYY-MM-DD"})
    }
}

/// Free text written by people (names, services, addresses), bounded so that no field can
/// carry a document.
pub const MAX_TEXT_LEN: usize = 4096;

/// A set kept as a sorted vector: what a `BTreeSet` is to its users (ordered, no duplicates,
/// the same JSON and schema), without a tree node of its own for a handful of items, which a
/// register of a million contracts holds a million times.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SortedSet<T>(Vec<T>);

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Ord> SortedSet<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, item: &T) -> bool {
        self.0.binary_search(item).is_ok()
    }

    /// Adds `item`; false if it was there already.
    pub fn insert(&mut self, item: T) -> bool {
        match self.0.binary_search(&item) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, item);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// In order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// The items of `self` not in `other`, in order.
    pub fn difference<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a T> + 'a {
        self.0.iter().filter(move |item| !other.contains(item))
    }
}

impl<T: Ord> FromIterator<T> for SortedSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut items: Vec<T> = items.into_iter().collect();
        items.sort();
        items.dedup();
        items.shrink_to_fit();
        Self(items)
    }
}

impl<'a, T> IntoIterator for &'a SortedSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> IntoIterator for SortedSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T: Serialize> Serialize for SortedSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for SortedSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<T>::deserialize(deserializer)?.into_iter().collect())
    }
}

impl<T: JsonSchema> JsonSchema for SortedSet<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::collections::BTreeSet::<T>::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        std::collections::BTreeSet::<T>::json_schema(generator)
    }
}

/// A text many entries repeat (a link's service, its recipient category), shared: while a
/// register is read ([`Text::shared_while`]), equal texts deserialised on the thread are one
/// allocation, where a million links each held a copy of "Hosting". Reads and writes as a
/// string.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(std::sync::Arc<str>);

thread_local! {
    /// The texts read so far in this thread's [`Text::shared_while`], if one runs.
    static SHARED_TEXTS: std::cell::RefCell<Option<std::collections::HashSet<std::sync::Arc<str>>>> =
        const { std::cell::RefCell::new(None) };
}

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Runs `read` (a deserialisation) with the texts it reads on this thread shared.
    pub fn shared_while<R>(read: impl FnOnce() -> R) -> R {
        /// Ends the sharing however `read` ends: texts read later are not kept.
        struct Sharing;
        impl Drop for Sharing {
            fn drop(&mut self) {
                SHARED_TEXTS.with(|shared| shared.borrow_mut().take());
            }
        }
        SHARED_TEXTS.with(|shared| *shared.borrow_mut() = Some(Default::default()));
        let _sharing = Sharing;
        read()
    }

    fn read(text: &str) -> Self {
        Self(
            SHARED_TEXTS.with(|shared| match shared.borrow_mut().as_mut() {
                Some(texts) => match texts.get(text) {
                    Some(seen) => seen.clone(),
                    None => {
                        let new: std::sync::Arc<str> = text.into();
                        texts.insert(new.clone());
                        new
                    }
                },
                None => text.into(),
            }),
        )
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text, E> {
                Ok(Text::read(text))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for Text {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_together_are_shared_and_read_and_write_as_strings() {
        let json = r#"[{"service":"Hosting"},{"service":"Hosting"},{"service":"Backups"}]"#;
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Link {
            service: Text,
        }
        let read = || serde_json::from_str::<Vec<Link>>(json).unwrap();
        let shared = Text::shared_while(read);
        assert!(std::sync::Arc::ptr_eq(
            &shared[0].service.0,
            &shared[1].service.0
        ));
        assert!(!std::sync::Arc::ptr_eq(
            &shared[0].service.0,
            &shared[2].service.0
        ));
        assert_eq!(shared[2].service, "Backups");
        assert_eq!(serde_json::to_string(&shared).unwrap(), json);
        let apart = read();
        assert!(
            !std::sync::Arc::ptr_eq(&apart[0].service.0, &apart[1].service.0),
            "outside a shared read, each text is its own"
        );
        assert_eq!(apart[0].service, shared[0].service);
        // A read that fails ends the sharing too.
        let failed = std::panic::catch_unwind(|| Text::shared_while(|| panic!("unreadable")));
        assert!(failed.is_err());
        assert!(SHARED_TEXTS.with(|texts| texts.borrow().is_none()));
        assert!(serde_json::from_str::<Text>("12").is_err());
        let schema = |s: schemars::Schema| serde_json::to_value(s).unwrap();
        assert_eq!(
            schema(schemars::schema_for!(Text)),
            schema(schemars::schema_for!(String))
        );
    }

    #[test]
    fn a_sorted_set_reads_and_writes_as_the_btree_set_it_replaced() {
        let set: SortedSet<Slug> =
            serde_json::from_str(r#"["tls", "backups", "tls", "mfa"]"#).unwrap();
        assert_eq!(set.len(), 3, "duplicates fold");
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["backups","mfa","tls"]"#,
            "in order"
        );
        let tree: std::collections::BTreeSet<Slug> =
            serde_json::from_str(r#"["tls", "backups", "tls", "mfa"]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&tree).unwrap(),
            serde_json::to_string(&set).unwrap()
        );
        let schema = |s: schemars::Schema| serde_json::to_value(s).unwrap();
        assert_eq!(
            schema(schemars::schema_for!(SortedSet<Slug>)),
            schema(schemars::schema_for!(std::collections::BTreeSet<Slug>))
        );
        let slug = |s: &str| s.parse::<Slug>().unwrap();
        assert!(set.contains(&slug("mfa")) && !set.contains(&slug("vpn")));
        let other: SortedSet<Slug> = [slug("mfa")].into_iter().collect();
        let missing: Vec<&str> = set.difference(&other).map(Slug::as_str).collect();
        assert_eq!(missing, ["backups", "tls"]);
        let mut grown = other.clone();
        assert!(grown.insert(slug("aes")));
        assert!(!grown.insert(slug("mfa")));
        let items: Vec<&str> = grown.iter().map(Slug::as_str).collect();
        assert_eq!(items, ["aes", "mfa"]);
        grown.clear();
        assert!(grown.is_empty());
    }
    use proptest::prelude::*;

    #[test]
    fn slug_accepts_manifest_ids_and_refuses_others() {
        for ok in ["hypermarket-a", "dpa-a-b", "a", "iso27001", "b.c_d"] {
            assert!(ok.parse::<Slug>().is_ok(), "{ok}");
        }
        for bad in ["", "Agency", "-a", "a b", "é", &"x".repeat(65)] {
            let err = bad.parse::<Slug>().unwrap_err();
            assert!(err.to_string().contains("expected an id"), "{bad}: {err}");
        }
    }

    #[test]
    fn country_codes_must_exist() {
        assert_eq!("IL".parse::<CountryCode>().unwrap().as_str(), "IL");
        assert!("il".parse::<CountryCode>().is_err());
        assert!("ESP".parse::<CountryCode>().is_err());
        let err = "XX".parse::<CountryCode>().unwrap_err();
        assert!(err.to_string().contains("not an ISO 3166-1"), "{err}");
    }

    #[test]
    fn emails_and_retention() {
        assert!("dpo@a.example".parse::<Email>().is_ok());
        for bad in [
            "dpo",
            "@a.example",
            "dpo@example",
            "d po@a.example",
            "a@b@c.d",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
        assert_eq!("P2Y".parse::<Retention>().unwrap().span().get_years(), 2);
        assert!("2 years".parse::<Retention>().is_err());
        assert!("P0D".parse::<Retention>().is_err());
    }

    proptest! {
        #[test]
        fn slug_round_trips(raw in "[a-z0-9][a-z0-9._-]{0,63}") {
            let slug: Slug = raw.parse().unwrap();
            prop_assert_eq!(slug.to_string(), raw);
        }

        #[test]
        fn slug_never_accepts_uppercase(raw in "[a-z]{0,5}[A-Z][a-z]{0,5}") {
            prop_assert!(raw.parse::<Slug>().is_err());
        }

        #[test]
        fn slug_never_accepts_a_character_outside_its_set(raw in "[a-z]{0,5}[^a-z0-9._-][a-z]{0,5}") {
            prop_assert!(raw.parse::<Slug>().is_err());
        }

        #[test]
        fn slug_never_accepts_a_character_beyond_ascii(raw in "[a-z]{0,5}[^\\x00-\\x7f][a-z]{0,5}") {
            prop_assert!(raw.parse::<Slug>().is_err());
        }
    }
}
