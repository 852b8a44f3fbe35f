//! The "Recipients" and "Transfers" sections of a controller's privacy notice (Arts 13(1)(e)(f),
//! 14(1)(e)(f)), generated from the chains of its activities: every processor at every level,
//! named (the default the CJEU expects, C-154/21) or as categories with sector and location, and
//! every transfer outside the EEA wherever it happens in a chain, with its safeguard and where a
//! copy of it can be obtained.
//!
//! A published notice is kept as its [`Notice`] value; [`diff`] tells what changed between two,
//! and [`out_of_date`] whether the register has moved on since one was published.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::chain::{Chain, ChainError};
use crate::model::{Organisation, TransferMechanism};
use crate::refdata::ReferenceData;
use crate::register::Register;
use crate::transfer::{self, Destination};
use crate::values::{CountryCode, Slug};

/// How recipients are given (Art. 13(1)(e): "the recipients or categories of recipients").
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeStyle {
    /// Each recipient by name, with country and what it does.
    #[default]
    Named,
    /// Categories of recipients with their sector and location.
    Categories,
}

impl NoticeStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Named => "named",
            Self::Categories => "categories",
        }
    }
}

impl std::str::FromStr for NoticeStyle {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "named" => Ok(Self::Named),
            "categories" => Ok(Self::Categories),
            other => Err(format!(
                "unknown notice style {other:?}: expected named or categories"
            )),
        }
    }
}

/// What a notice covers and how it names recipients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeOptions {
    #[serde(default)]
    pub style: NoticeStyle,
    /// The activities the notice covers; empty: every activity the controller (or joint
    /// controller) is responsible for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Slug>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("no organisation {0:?} in the register")]
    UnknownOrganisation(String),
    #[error("no activity {0:?} in the register")]
    UnknownActivity(String),
    #[error("{organisation:?} is not a controller of activity {activity:?}")]
    NotController {
        organisation: String,
        activity: String,
    },
    #[error("{0:?} is not the controller of any activity: it has no notice to give")]
    NoActivities(String),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// An organisation as a notice or a record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Party {
    pub id: Slug,
    pub name: String,
    pub country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The contact person's name, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo_email: Option<String>,
    /// The DPO's name, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo_name: Option<String>,
    /// The Art. 27 representative, in one line: name, address, e-mail, phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<String>,
}

impl Party {
    pub fn of(organisation: &Organisation) -> Self {
        let email = |c: &Option<crate::model::Contact>| {
            c.as_ref()
                .and_then(|c| c.email.as_ref())
                .map(|e| e.as_str().to_owned())
        };
        Self {
            id: organisation.id.clone(),
            name: organisation.name.clone(),
            country: organisation.country,
            address: organisation.address.clone(),
            contact_name: organisation.contact.as_ref().and_then(|c| c.name.clone()),
            contact_email: email(&organisation.contact),
            dpo_email: email(&organisation.dpo),
            dpo_name: organisation.dpo.as_ref().and_then(|d| d.name.clone()),
            representative: organisation.representative.as_ref().map(|r| {
                let mut parts = vec![r.name.clone()];
                parts.extend(r.address.clone());
                parts.extend(r.email.as_ref().map(|e| e.as_str().to_owned()));
                parts.extend(r.phone.clone());
                parts.join(", ")
            }),
        }
    }

    /// The party in one line with its contact details: name, address, e-mail, DPO,
    /// representative (what Art. 30(1)(a) and 30(2)(a) ask of each party).
    pub fn with_contacts(&self) -> String {
        let mut parts = vec![self.name.clone()];
        parts.extend(self.address.clone());
        parts.extend(self.contact());
        match (&self.dpo_name, &self.dpo_email) {
            (None, None) => {}
            (name, email) => parts.push(format!(
                "DPO: {}",
                [name.clone(), email.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        if let Some(representative) = &self.representative {
            parts.push(format!("representative (Art. 27): {representative}"));
        }
        parts.join("; ")
    }

    /// The contact in one line: the person's name and the e-mail, whichever are recorded.
    pub fn contact(&self) -> Option<String> {
        let parts: Vec<String> = [self.contact_name.clone(), self.contact_email.clone()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Where a data subject writes: the DPO, else the privacy contact.
    pub fn privacy_email(&self) -> Option<&str> {
        self.dpo_email.as_deref().or(self.contact_email.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeActivity {
    pub id: Slug,
    pub name: String,
    pub purposes: Vec<String>,
}

/// One recipient, by name (named style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamedRecipient {
    pub id: Slug,
    pub name: String,
    pub country: CountryCode,
    /// What it does, each description once.
    pub services: Vec<String>,
    /// The activities (of those covered) in whose chain it is.
    pub activities: Vec<Slug>,
}

/// A category of recipients with sector and location (categories style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryOfRecipients {
    pub category: String,
    pub sectors: Vec<String>,
    pub countries: Vec<CountryCode>,
}

/// The safeguard a transfer relies on, as a notice states it (Art. 13(1)(f)).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Safeguard {
    /// `adequacy`, `scc`, `bcr`, `code-of-conduct`, `certification`, `derogation`, or `none`
    /// where the register records no mechanism.
    pub kind: String,
    /// The article of the GDPR it rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// The legal act relied on (the adequacy decision, the SCC decision), when one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
    /// Whether the mechanism holds on the notice's date.
    pub valid: bool,
}

impl Safeguard {
    fn of(mechanism: Option<&TransferMechanism>, act: Option<String>, valid: bool) -> Self {
        let article = match mechanism {
            None => None,
            Some(TransferMechanism::Adequacy) => Some("Art. 45"),
            Some(TransferMechanism::Scc(_)) => Some("Art. 46(2)(c)"),
            Some(TransferMechanism::Bcr) => Some("Arts 46(2)(b), 47"),
            Some(TransferMechanism::CodeOfConduct) => Some("Art. 46(2)(e)"),
            Some(TransferMechanism::Certification) => Some("Art. 46(2)(f)"),
            Some(TransferMechanism::Derogation(_)) => Some("Art. 49(1)"),
        };
        Self {
            kind: mechanism_kind(mechanism).to_owned(),
            article: article.map(str::to_owned),
            act,
            valid,
        }
    }

    /// Whether the data subject may ask the controller for a copy of the safeguard
    /// (Art. 13(1)(f)): the appropriate safeguards of Art. 46; an adequacy decision is public
    /// and a derogation has none.
    pub fn copy_on_request(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "scc" | "bcr" | "code-of-conduct" | "certification"
        )
    }
}

/// The short name of a transfer mechanism, `none` for none.
pub fn mechanism_kind(mechanism: Option<&TransferMechanism>) -> &'static str {
    match mechanism {
        None => "none",
        Some(TransferMechanism::Adequacy) => "adequacy",
        Some(TransferMechanism::Scc(_)) => "scc",
        Some(TransferMechanism::Bcr) => "bcr",
        Some(TransferMechanism::CodeOfConduct) => "code-of-conduct",
        Some(TransferMechanism::Certification) => "certification",
        Some(TransferMechanism::Derogation(_)) => "derogation",
    }
}

/// Where data leaves the EEA, on which safeguard, and to whom (names or categories, as the
/// notice's style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeTransfer {
    /// The destination country, or none for an international organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international_organisation: Option<String>,
    pub safeguard: Safeguard,
    pub recipients: Vec<String>,
}

impl NoticeTransfer {
    /// What identifies the transfer across versions.
    fn key(&self) -> (Option<CountryCode>, Option<&str>, &Safeguard) {
        (
            self.country,
            self.international_organisation.as_deref(),
            &self.safeguard,
        )
    }
}

/// The two sections, as of a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    pub controller: Party,
    #[schemars(with = "crate::values::IsoDate")]
    pub on: Date,
    pub style: NoticeStyle,
    pub activities: Vec<NoticeActivity>,
    /// Named style: every recipient, by depth of first appearance, then id.
    #[serde(default)]
    pub recipients: Vec<NamedRecipient>,
    /// Categories style: every category, sorted.
    #[serde(default)]
    pub categories: Vec<CategoryOfRecipients>,
    /// By destination, then safeguard.
    pub transfers: Vec<NoticeTransfer>,
    /// The notice's words in other languages, as the register gives them (`translations` of
    /// links and organisations): language → text as written → text in that language. Only
    /// texts the notice shows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, BTreeMap<String, String>>,
}

/// The notice of `controller` under `options`, from the chains as they stand on `on`.
pub fn build(
    register: &Register,
    controller: &str,
    options: &NoticeOptions,
    on: Date,
) -> Result<Notice, NoticeError> {
    let organisation = register
        .organisation(controller)
        .ok_or_else(|| NoticeError::UnknownOrganisation(controller.to_owned()))?;
    let activities = covered_activities(register, controller, &options.activities)?;

    // Recipients by organisation index: (first depth, entry), merged over activities.
    let mut named: BTreeMap<Slug, (u32, NamedRecipient)> = BTreeMap::new();
    let mut categories: BTreeMap<String, CategoryOfRecipients> = BTreeMap::new();
    let mut transfers: BTreeMap<(Option<CountryCode>, Option<String>, Safeguard), Vec<String>> =
        BTreeMap::new();
    for activity in &activities {
        let chain = Chain::derive(register, activity.id.as_str(), Some(on))?;
        let recipients = chain.recipients();
        for recipient in &recipients.recipients {
            let (depth, entry) = named
                .entry(recipient.organisation.id.clone())
                .or_insert_with(|| {
                    (
                        recipient.depth,
                        NamedRecipient {
                            id: recipient.organisation.id.clone(),
                            name: recipient.organisation.name.clone(),
                            country: recipient.organisation.country,
                            services: Vec::new(),
                            activities: Vec::new(),
                        },
                    )
                });
            *depth = (*depth).min(recipient.depth);
            entry
                .services
                .extend(recipient.services().into_iter().map(str::to_owned));
            entry.activities.push(activity.id.clone());
        }
        for category in &recipients.categories {
            let entry = categories
                .entry(category.category.to_owned())
                .or_insert_with(|| CategoryOfRecipients {
                    category: category.category.to_owned(),
                    sectors: Vec::new(),
                    countries: Vec::new(),
                });
            entry
                .sectors
                .extend(category.sectors.iter().map(|s| (*s).to_owned()));
            entry.countries.extend(category.countries.iter().copied());
        }
        for found in transfer::transfers(&chain, on) {
            let (country, international_organisation) = match &found.destination {
                Destination::Country(code) => (Some(*code), None),
                Destination::InternationalOrganisation(id) => (None, Some(id.to_string())),
            };
            // An onward transfer rests on the safeguard of the link above.
            let safeguard = Safeguard::of(
                found.relied_on(),
                found.assessment.basis.clone(),
                found.assessment.valid,
            );
            let to = match options.style {
                NoticeStyle::Named => found.importer_name.clone(),
                NoticeStyle::Categories => chain
                    .engagement(&chain.links[found.link])
                    .category()
                    .to_owned(),
            };
            transfers
                .entry((country, international_organisation, safeguard))
                .or_default()
                .push(to);
        }
    }

    let mut recipients: Vec<(u32, NamedRecipient)> = named.into_values().collect();
    for (_, recipient) in &mut recipients {
        sort_unique(&mut recipient.services);
        sort_unique(&mut recipient.activities);
    }
    recipients.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    let mut categories: Vec<CategoryOfRecipients> = categories.into_values().collect();
    for category in &mut categories {
        sort_unique(&mut category.sectors);
        sort_unique(&mut category.countries);
    }
    let transfers: Vec<NoticeTransfer> = transfers
        .into_iter()
        .map(
            |((country, international_organisation, safeguard), mut recipients)| {
                sort_unique(&mut recipients);
                NoticeTransfer {
                    country,
                    international_organisation,
                    safeguard,
                    recipients,
                }
            },
        )
        .collect();
    let (recipients, categories): (Vec<NamedRecipient>, Vec<CategoryOfRecipients>) =
        match options.style {
            NoticeStyle::Named => (recipients.into_iter().map(|(_, r)| r).collect(), Vec::new()),
            NoticeStyle::Categories => (Vec::new(), categories),
        };
    let shown: BTreeSet<&str> = recipients
        .iter()
        .flat_map(|r| r.services.iter())
        .chain(
            categories
                .iter()
                .flat_map(|c| std::iter::once(&c.category).chain(&c.sectors)),
        )
        .chain(
            transfers
                .iter()
                .flat_map(|t: &NoticeTransfer| &t.recipients),
        )
        .map(String::as_str)
        .collect();
    let translations = translations_of(register, &activities, &shown);
    Ok(Notice {
        controller: Party::of(organisation),
        on,
        style: options.style,
        activities: activities
            .iter()
            .map(|a| NoticeActivity {
                id: a.id.clone(),
                name: a.name.clone().unwrap_or_else(|| a.id.to_string()),
                purposes: a.purposes.clone(),
            })
            .collect(),
        recipients,
        categories,
        transfers,
        translations,
    })
}

/// The translations the register gives for the texts a notice shows: the services and
/// categories of the links of `activities`, the sectors of their processors.
fn translations_of(
    register: &Register,
    activities: &[&crate::model::Activity],
    shown: &BTreeSet<&str>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut translations: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut add = |language: &str, written: &str, translated: &str| {
        if shown.contains(written) {
            translations
                .entry(language.to_owned())
                .or_default()
                .entry(written.to_owned())
                .or_insert_with(|| translated.to_owned());
        }
    };
    let covered: BTreeSet<&str> = activities.iter().map(|a| a.id.as_str()).collect();
    for link in register
        .engagements()
        .iter()
        .filter(|l| covered.contains(l.activity.as_str()))
    {
        for (language, fields) in &link.translations {
            if let Some(service) = fields.get("service") {
                add(language, &link.service, service);
            }
            if let Some(category) = fields.get("category") {
                add(language, link.category(), category);
            }
        }
        let processor = register.organisation(link.processor.as_str());
        if let Some((sector, translations)) =
            processor.and_then(|o| o.sector.as_deref().map(|s| (s, &o.translations)))
        {
            for (language, fields) in translations {
                if let Some(translated) = fields.get("sector") {
                    add(language, sector, translated);
                }
            }
        }
    }
    translations
}

/// The activities a notice of `controller` covers: those asked for (each must be one it is
/// controller or joint controller of), or all of them.
pub fn covered_activities<'r>(
    register: &'r Register,
    controller: &str,
    asked: &[Slug],
) -> Result<Vec<&'r crate::model::Activity>, NoticeError> {
    let controls =
        |a: &crate::model::Activity| a.accepted_controllers().any(|c| c.as_str() == controller);
    if asked.is_empty() {
        let all: Vec<_> = register
            .activities()
            .iter()
            .filter(|a| controls(a))
            .collect();
        if all.is_empty() {
            return Err(NoticeError::NoActivities(controller.to_owned()));
        }
        return Ok(all);
    }
    let mut chosen = Vec::with_capacity(asked.len());
    for id in asked {
        let activity = register
            .activity(id.as_str())
            .ok_or_else(|| NoticeError::UnknownActivity(id.to_string()))?;
        if !controls(activity) {
            return Err(NoticeError::NotController {
                organisation: controller.to_owned(),
                activity: id.to_string(),
            });
        }
        chosen.push(activity);
    }
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    chosen.dedup_by(|a, b| a.id == b.id);
    Ok(chosen)
}

fn sort_unique<T: Ord>(list: &mut Vec<T>) {
    list.sort_unstable();
    list.dedup();
}

/// A change to one item between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Changed<T> {
    pub before: T,
    pub after: T,
}

/// What changed from one notice to the next: what a reader of the new version must learn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeDiff {
    pub recipients_added: Vec<NamedRecipient>,
    pub recipients_removed: Vec<NamedRecipient>,
    pub recipients_changed: Vec<Changed<NamedRecipient>>,
    pub categories_added: Vec<CategoryOfRecipients>,
    pub categories_removed: Vec<CategoryOfRecipients>,
    pub categories_changed: Vec<Changed<CategoryOfRecipients>>,
    pub transfers_added: Vec<NoticeTransfer>,
    pub transfers_removed: Vec<NoticeTransfer>,
    pub transfers_changed: Vec<Changed<NoticeTransfer>>,
}

impl NoticeDiff {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// One line per change, for people: `+ Analytics E S.L. (Spain)`.
    pub fn lines(&self) -> Vec<String> {
        let reference = ReferenceData::builtin();
        let country = |c: CountryCode| reference.country_name(c);
        let recipient = |r: &NamedRecipient| format!("{} ({})", r.name, country(r.country));
        let category = |c: &CategoryOfRecipients| {
            let countries: Vec<String> = c.countries.iter().map(|&c| country(c)).collect();
            format!("{} ({})", c.category, countries.join(", "))
        };
        let transfer = |t: &NoticeTransfer| {
            let to = t
                .country
                .map(country)
                .or_else(|| t.international_organisation.clone())
                .unwrap_or_default();
            let on = match &t.safeguard.act {
                Some(act) => format!("{} ({act})", t.safeguard.kind),
                None => t.safeguard.kind.clone(),
            };
            format!("transfer to {to} on {on}: {}", t.recipients.join(", "))
        };
        let mut lines = Vec::new();
        lines.extend(
            self.recipients_added
                .iter()
                .map(|r| format!("+ {}", recipient(r))),
        );
        lines.extend(
            self.recipients_removed
                .iter()
                .map(|r| format!("- {}", recipient(r))),
        );
        lines.extend(
            self.recipients_changed
                .iter()
                .map(|c| format!("~ {} -> {}", recipient(&c.before), recipient(&c.after))),
        );
        lines.extend(
            self.categories_added
                .iter()
                .map(|c| format!("+ {}", category(c))),
        );
        lines.extend(
            self.categories_removed
                .iter()
                .map(|c| format!("- {}", category(c))),
        );
        lines.extend(
            self.categories_changed
                .iter()
                .map(|c| format!("~ {} -> {}", category(&c.before), category(&c.after))),
        );
        lines.extend(
            self.transfers_added
                .iter()
                .map(|t| format!("+ {}", transfer(t))),
        );
        lines.extend(
            self.transfers_removed
                .iter()
                .map(|t| format!("- {}", transfer(t))),
        );
        lines.extend(
            self.transfers_changed
                .iter()
                .map(|c| format!("~ {} -> {}", transfer(&c.before), transfer(&c.after))),
        );
        lines
    }
}

/// What changed from `before` to `after` (recipients by id, categories by name, transfers by
/// destination and safeguard).
pub fn diff(before: &Notice, after: &Notice) -> NoticeDiff {
    let mut found = NoticeDiff::default();
    compare(
        &before.recipients,
        &after.recipients,
        |r| r.id.to_string(),
        &mut found.recipients_added,
        &mut found.recipients_removed,
        &mut found.recipients_changed,
    );
    compare(
        &before.categories,
        &after.categories,
        |c| c.category.clone(),
        &mut found.categories_added,
        &mut found.categories_removed,
        &mut found.categories_changed,
    );
    compare(
        &before.transfers,
        &after.transfers,
        |t| format!("{:?}", t.key()),
        &mut found.transfers_added,
        &mut found.transfers_removed,
        &mut found.transfers_changed,
    );
    found
}

fn compare<T: Clone + PartialEq>(
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> String,
    added: &mut Vec<T>,
    removed: &mut Vec<T>,
    changed: &mut Vec<Changed<T>>,
) {
    let old: BTreeMap<String, &T> = before.iter().map(|item| (key(item), item)).collect();
    let new: BTreeMap<String, &T> = after.iter().map(|item| (key(item), item)).collect();
    for item in after {
        match old.get(&key(item)) {
            None => added.push(item.clone()),
            Some(&was) if was != item => changed.push(Changed {
                before: was.clone(),
                after: item.clone(),
            }),
            Some(_) => {}
        }
    }
    removed.extend(
        before
            .iter()
            .filter(|item| !new.contains_key(&key(item)))
            .cloned(),
    );
}

/// A version of a notice as it was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishedNotice {
    pub controller: Slug,
    /// The notice's name (a controller may publish several, e.g. one per website).
    pub name: Slug,
    pub version: u32,
    pub language: String,
    pub options: NoticeOptions,
    pub notice: Notice,
}

/// How a published notice differs from what the register says on `on`, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staleness {
    /// The day the register began to say otherwise, when a link starting or ending explains
    /// it; none when an undated edit (a name, a service, a location) does.
    pub since: Option<Date>,
    pub diff: NoticeDiff,
    /// The notice can no longer be generated (an activity was removed, the controller gone).
    pub broken: Option<String>,
}

/// Whether `published` is out of date on `on`: what the register would say now differs from
/// what was published.
pub fn out_of_date(
    register: &Register,
    published: &PublishedNotice,
    on: Date,
) -> Option<Staleness> {
    let current = match build(
        register,
        published.controller.as_str(),
        &published.options,
        on,
    ) {
        Ok(current) => current,
        Err(error) => {
            return Some(Staleness {
                since: None,
                diff: NoticeDiff::default(),
                broken: Some(error.to_string()),
            });
        }
    };
    let found = diff(&published.notice, &current);
    if found.is_empty() {
        return None;
    }
    Some(Staleness {
        since: first_change(register, published, &found, on),
        diff: found,
        broken: None,
    })
}

/// When the register began to say something else, from the links that explain the change:
/// the first day of a link that brought in a recipient the notice lacks, or the day after the
/// last link of a recipient it still names had ended. None when no dated link explains it (an
/// edit of a name or a service, a new location).
fn first_change(
    register: &Register,
    published: &PublishedNotice,
    diff: &NoticeDiff,
    on: Date,
) -> Option<Date> {
    let activities = covered_activities(
        register,
        published.controller.as_str(),
        &published.options.activities,
    )
    .ok()?;
    let added: Vec<&Slug> = diff
        .recipients_added
        .iter()
        .map(|r| &r.id)
        .chain(diff.recipients_changed.iter().map(|c| &c.after.id))
        .collect();
    let removed: Vec<&Slug> = diff.recipients_removed.iter().map(|r| &r.id).collect();
    let mut days: Vec<Date> = Vec::new();
    for activity in activities {
        let Some(ix) = register.activity_index(activity.id.as_str()) else {
            continue;
        };
        for &link in register.engagements_of_activity(ix) {
            let engagement = register.engagement_at(link);
            let in_force = engagement.since <= on && engagement.until.is_none_or(|u| on <= u);
            if in_force && added.contains(&&engagement.processor) {
                days.push(engagement.since);
            }
            if let Some(ended) = engagement.until.and_then(|u| u.tomorrow().ok())
                && ended <= on
                && removed.contains(&&engagement.processor)
            {
                days.push(ended);
            }
        }
    }
    days.into_iter().min()
}
