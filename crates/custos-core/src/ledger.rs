//! The disclosure ledger (groundwork for data-subject rights): which recipient got which
//! subject's data, for which activity, when — keyed by HMAC-SHA256(instance pepper,
//! normalised identifier), so that the ledger never holds an e-mail address or a phone number
//! in clear — and the access answer (Art. 15(1)(c), CJEU C-154/21): the specific recipients
//! of one subject's data, each with every processor below it that **has held or will hold**
//! the data: engaged below the recipient at any time from the disclosure until today, or until
//! the activity's retention period ends (a processor engaged after the disclosure receives
//! the data the recipient still holds), each with its first day; the categories each received
//! and when, and the transfers among them with their safeguards (Art. 15(2)).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Date;
use crate::chain::{Chain, ChainError};
use crate::register::Register;
use crate::transfer;
use crate::values::{CountryCode, Slug};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "identifier: {0:?} is neither an e-mail address nor a phone number in international form (+34 600 000 000)"
    )]
    Identifier(String),
    #[error("activity: no activity {0:?} in the register")]
    UnknownActivity(String),
    #[error("recipient: no organisation {0:?} in the register")]
    UnknownRecipient(String),
    #[error("the instance's pepper cannot key an HMAC")]
    Pepper,
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// An identifier as it is keyed: e-mail addresses trimmed and lower-cased, phone numbers in
/// E.164 (`+` and 8 to 15 digits; spaces, dots, dashes, brackets dropped; `00` read as `+`).
pub fn normalise(identifier: &str) -> Result<String, LedgerError> {
    let trimmed = identifier.trim();
    let refuse = || LedgerError::Identifier(trimmed.chars().take(64).collect());
    if trimmed.contains('@') {
        let email = trimmed.to_lowercase();
        let (local, domain) = email.split_once('@').ok_or_else(refuse)?;
        let valid = !local.is_empty()
            && domain.contains('.')
            && !email.chars().any(char::is_whitespace)
            && email.matches('@').count() == 1
            && email.len() <= 254;
        return if valid { Ok(email) } else { Err(refuse()) };
    }
    let compact: String = trimmed
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"))
        .ok_or_else(refuse)?;
    let valid = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(format!("+{digits}"))
    } else {
        Err(refuse())
    }
}

/// Keys identifiers under one pepper: the HMAC's keyed state is made once and cloned for
/// each identifier (bulk imports key millions).
#[derive(Clone)]
pub struct SubjectKeyer {
    mac: Hmac<Sha256>,
}

impl SubjectKeyer {
    pub fn new(pepper: &[u8]) -> Result<Self, LedgerError> {
        // An HMAC takes a key of any length; the error cannot happen.
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(pepper).map_err(|_| LedgerError::Pepper)?;
        Ok(Self { mac })
    }

    /// The subject key of an identifier: lowercase hex of HMAC-SHA256(pepper, normalised).
    pub fn key(&self, identifier: &str) -> Result<String, LedgerError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let normalised = normalise(identifier)?;
        let mut mac = self.mac.clone();
        mac.update(normalised.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(HEX[usize::from(byte >> 4)] as char);
            hex.push(HEX[usize::from(byte & 0xf)] as char);
        }
        Ok(hex)
    }
}

/// The subject key of an identifier: lowercase hex of HMAC-SHA256(pepper, normalised).
pub fn subject_key(pepper: &[u8], identifier: &str) -> Result<String, LedgerError> {
    SubjectKeyer::new(pepper)?.key(identifier)
}

/// One event of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    pub subject_key: String,
    pub activity: Slug,
    pub recipient: Slug,
    pub categories: Vec<Slug>,
    pub at: Timestamp,
}

/// Checks an event's references against the register.
pub fn validate(register: &Register, disclosure: &Disclosure) -> Result<(), LedgerError> {
    if register.activity(disclosure.activity.as_str()).is_none() {
        return Err(LedgerError::UnknownActivity(
            disclosure.activity.to_string(),
        ));
    }
    if register
        .organisation(disclosure.recipient.as_str())
        .is_none()
    {
        return Err(LedgerError::UnknownRecipient(
            disclosure.recipient.to_string(),
        ));
    }
    Ok(())
}

/// A recipient of the subject's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AnswerRecipient {
    pub id: Slug,
    pub name: String,
    pub country: CountryCode,
    pub address: Option<String>,
    /// The recipient the data was disclosed to, when this one got it through its chain.
    pub through: Option<Slug>,
    /// The processor that engaged it (below the disclosed-to recipient): the one that relays
    /// an Art. 19 notification to it.
    pub parent: Option<Slug>,
    pub categories: Vec<Slug>,
    pub activities: Vec<Slug>,
    /// The first and last disclosure that reached it.
    #[schemars(with = "String")]
    pub first: Timestamp,
    #[schemars(with = "String")]
    pub last: Timestamp,
    /// The first day it held the subject's data: the disclosure's day, or for a processor
    /// engaged later below the recipient, the day it was engaged.
    #[schemars(with = "crate::values::IsoDate")]
    pub since: Date,
}

/// A transfer among the recipients, with its safeguard (Art. 15(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AnswerTransfer {
    pub exporter: Slug,
    pub importer: Slug,
    pub destination: String,
    pub mechanism: String,
    pub basis: Option<String>,
    pub valid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessAnswer {
    /// The recipients disclosed to first, then those below them, each by id.
    pub recipients: Vec<AnswerRecipient>,
    pub transfers: Vec<AnswerTransfer>,
}

fn day(at: Timestamp) -> Date {
    at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// The days a holder keeps the subject's data, first and last inclusive.
type Window = (Date, Date);

fn overlap(a: Window, since: Date, until: Option<Date>) -> Option<Window> {
    let start = a.0.max(since);
    let end = until.map_or(a.1, |u| a.1.min(u));
    (start <= end).then_some((start, end))
}

/// The access answer for the disclosures of one subject, as of `today`.
pub fn access_answer(
    register: &Register,
    disclosures: &[Disclosure],
    today: Date,
) -> Result<AccessAnswer, LedgerError> {
    let mut recipients: BTreeMap<(bool, Slug), AnswerRecipient> = BTreeMap::new();
    let mut transfers: BTreeSet<(Slug, Slug, String, String, Option<String>, bool)> =
        BTreeSet::new();
    // Every engagement ever recorded for the activity: who held the data is decided by dates.
    let mut chains: HashMap<Slug, Chain<'_>> = HashMap::new();
    let mut found = Vec::new();
    for disclosure in disclosures {
        validate(register, disclosure)?;
        let from = day(disclosure.at);
        let Some(activity) = register.activity(disclosure.activity.as_str()) else {
            continue;
        };
        // The data stays with the recipients until the retention period ends (when recorded),
        // and the answer looks no further than today.
        let retained_until = activity
            .retention
            .as_ref()
            .and_then(|r| from.checked_add(r.span()).ok())
            .map_or(today, |end| end.min(today))
            .max(from);
        if !chains.contains_key(&disclosure.activity) {
            let chain = Chain::derive(register, disclosure.activity.as_str(), None)?;
            chains.insert(disclosure.activity.clone(), chain);
        }
        let Some(chain) = chains.get(&disclosure.activity) else {
            continue;
        };
        // Depth first, parents before children: a link holds the data from when both it and
        // the link above it (or, at the recipient, the disclosure) were there.
        let mut windows: Vec<Option<Window>> = vec![None; chain.links.len()];
        for (index, link) in chain.links.iter().enumerate() {
            let engagement = chain.engagement(link);
            let above = if engagement.processor == disclosure.recipient {
                Some((from, retained_until))
            } else {
                link.parent.and_then(|p| windows[p as usize])
            };
            windows[index] = above.and_then(|w| overlap(w, engagement.since, engagement.until));
        }
        let mut note = |id: &Slug, through: Option<&Slug>, parent: Option<&Slug>, since: Date| {
            let Some(organisation) = register.organisation(id.as_str()) else {
                return;
            };
            let entry = recipients
                .entry((through.is_some(), id.clone()))
                .or_insert_with(|| AnswerRecipient {
                    id: id.clone(),
                    name: organisation.name.clone(),
                    country: organisation.country,
                    address: organisation.address.clone(),
                    through: through.cloned(),
                    parent: parent.cloned(),
                    categories: Vec::new(),
                    activities: Vec::new(),
                    first: disclosure.at,
                    last: disclosure.at,
                    since,
                });
            entry.first = entry.first.min(disclosure.at);
            entry.last = entry.last.max(disclosure.at);
            entry.since = entry.since.min(since);
            for category in &disclosure.categories {
                if !entry.categories.contains(category) {
                    entry.categories.push(category.clone());
                }
            }
            if !entry.activities.contains(&disclosure.activity) {
                entry.activities.push(disclosure.activity.clone());
            }
        };
        note(&disclosure.recipient, None, None, from);
        for (index, link) in chain.links.iter().enumerate() {
            let Some((since, _)) = windows[index] else {
                continue;
            };
            let processor = &chain.engagement(link).processor;
            if processor != &disclosure.recipient {
                let parent = link
                    .parent
                    .map(|p| &chain.engagement(&chain.links[p as usize]).processor);
                note(processor, Some(&disclosure.recipient), parent, since);
            }
            // Judged on the first day the link held the data.
            found.clear();
            transfer::transfers_of_link(chain, index, since, &mut found);
            for found in &found {
                transfers.insert((
                    found.exporter.clone(),
                    found.importer.clone(),
                    match &found.destination {
                        transfer::Destination::Country(c) => c.to_string(),
                        transfer::Destination::InternationalOrganisation(o) => o.to_string(),
                    },
                    crate::notice::mechanism_kind(found.relied_on()).to_owned(),
                    found.assessment.basis.clone(),
                    found.assessment.valid,
                ));
            }
        }
    }
    // One who received the data directly is not listed again as reached through another.
    let direct: BTreeSet<Slug> = recipients
        .keys()
        .filter(|(through, _)| !through)
        .map(|(_, id)| id.clone())
        .collect();
    let mut list: Vec<AnswerRecipient> = recipients
        .into_iter()
        .filter(|((through, id), _)| !through || !direct.contains(id))
        .map(|(_, mut r)| {
            r.categories.sort();
            r.activities.sort();
            r
        })
        .collect();
    list.dedup_by(|a, b| a.id == b.id);
    Ok(AccessAnswer {
        recipients: list,
        transfers: transfers
            .into_iter()
            .map(
                |(exporter, importer, destination, mechanism, basis, valid)| AnswerTransfer {
                    exporter,
                    importer,
                    destination,
                    mechanism,
                    basis,
                    valid,
                },
            )
            .collect(),
    })
}
