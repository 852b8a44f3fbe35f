//! The chain of a processing activity: the tree of engagements rooted at its controller, at
//! any depth, as it stood on a date; its recipients; and the reverse lookup from a processor
//! to every activity and controller above it.
//!
//! A processor engaged by two processors of the same activity appears under both: each path
//! is a way the data reaches it, and each is shown.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::Date;
use crate::model::{Activity, Authorisation, Engagement, Organisation};
use crate::refdata::ReferenceData;
use crate::register::{EngagementIx, Facts, OrgIx, Register};
use crate::values::{CountryCode, Slug};
use crate::{FastMap, FastSet};

/// Links in one derived chain at most; only a register built to explode (processors shared
/// by many processors at many levels) reaches it.
pub const MAX_CHAIN_LINKS: usize = 2_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("there is no activity {0:?} in the register")]
    UnknownActivity(String),
    #[error("there is no organisation {0:?} in the register")]
    UnknownOrganisation(String),
    #[error(
        "the chain of activity {activity} has more than {MAX_CHAIN_LINKS} links once shared processors are unfolded"
    )]
    TooLarge { activity: Slug },
}

/// One link in a derived chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub engagement: EngagementIx,
    /// 1 for a processor engaged by the controller.
    pub depth: u32,
    /// The link above, as an index into [`Chain::links`]; none at depth 1.
    pub parent: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Chain<'r> {
    pub register: &'r Register,
    pub activity: &'r Activity,
    /// The day the chain stood as; none for every engagement ever recorded.
    pub at: Option<Date>,
    /// Depth first, children in id order.
    pub links: Vec<Link>,
    /// Engagements in force on the day whose engaging party was not in the chain that day.
    pub detached: Vec<EngagementIx>,
}

impl<'r> Chain<'r> {
    /// The chain of `activity` as it stood on `at` (every engagement when `at` is none).
    pub fn derive(
        register: &'r Register,
        activity: &str,
        at: Option<Date>,
    ) -> Result<Self, ChainError> {
        let activity_ix = register
            .activity_index(activity)
            .ok_or_else(|| ChainError::UnknownActivity(activity.to_owned()))?;
        let activity = &register.activities()[activity_ix as usize];
        let mut children: FastMap<OrgIx, Vec<EngagementIx>> = FastMap::default();
        let mut in_force = 0usize;
        for &ix in register.engagements_of_activity(activity_ix) {
            if at.is_none_or(|date| register.facts().links[ix as usize].in_force_on(date)) {
                children
                    .entry(register.link_parties(ix).0)
                    .or_default()
                    .push(ix);
                in_force += 1;
            }
        }
        let mut links: Vec<Link> = Vec::with_capacity(in_force);
        let mut reached_orgs: FastSet<OrgIx> = FastSet::default();
        for controller in activity.controllers() {
            let Some(root) = register.organisation_index(controller.as_str()) else {
                continue;
            };
            reached_orgs.insert(root);
            // Depth-first preorder: pop a link, list it, then push the links below it, so each
            // link is followed by its subtree and siblings keep their id order.
            let mut stack: Vec<(EngagementIx, u32, Option<u32>)> = Vec::new();
            let push_children = |stack: &mut Vec<_>, org, depth, parent| {
                if let Some(kids) = children.get(&org) {
                    stack.extend(kids.iter().rev().map(|&kid| (kid, depth + 1, parent)));
                }
            };
            push_children(&mut stack, root, 0, None);
            while let Some((engagement, depth, parent)) = stack.pop() {
                // Validation guarantees no cycles; unfolding shared processors is bounded here.
                if links.len() >= MAX_CHAIN_LINKS {
                    return Err(ChainError::TooLarge {
                        activity: activity.id.clone(),
                    });
                }
                let index = links.len() as u32;
                links.push(Link {
                    engagement,
                    depth,
                    parent,
                });
                let processor = register.link_parties(engagement).1;
                reached_orgs.insert(processor);
                push_children(&mut stack, processor, depth, Some(index));
            }
        }
        let mut detached: Vec<EngagementIx> = children
            .iter()
            .filter(|(by, _)| !reached_orgs.contains(by))
            .flat_map(|(_, links)| links.iter().copied())
            .collect();
        detached.sort_unstable();
        Ok(Self {
            register,
            activity,
            at,
            links,
            detached,
        })
    }

    pub fn engagement(&self, link: &Link) -> &'r Engagement {
        self.register.engagement_at(link.engagement)
    }

    pub fn processor(&self, link: &Link) -> &'r Organisation {
        self.register
            .organisation_at(self.register.link_parties(link.engagement).1)
    }

    /// The organisations from the controller down to the link's processor.
    pub fn path(&self, link_index: usize) -> Vec<&'r Slug> {
        let mut path = Vec::new();
        let mut current = Some(link_index as u32);
        let mut top = link_index as u32;
        while let Some(index) = current {
            let link = &self.links[index as usize];
            path.push(&self.register.engagement_at(link.engagement).processor);
            top = index;
            current = link.parent;
        }
        path.push(
            &self
                .register
                .engagement_at(self.links[top as usize].engagement)
                .engaged_by,
        );
        path.reverse();
        path
    }

    /// Where the link's processor processes: its locations, or its own country.
    pub fn locations(&self, link: &Link) -> Vec<CountryCode> {
        self.engagement(link)
            .countries(self.processor(link).country)
            .collect()
    }

    /// Every processor at every level, once each, with what it does and where.
    pub fn recipients(&self) -> Recipients<'r> {
        // Keyed by organisation index: a chain of a large register touches many scattered
        // organisations, and hashing a u32 is cheaper than hashing an id.
        let mut position: FastMap<OrgIx, usize> = FastMap::default();
        let mut recipients: Vec<Recipient<'r>> = Vec::new();
        // Category aggregation works on interned ids (see `register::Facts`); entries are
        // read only for links with explicit locations.
        let facts = self.register.facts();
        let mut category_ids: Vec<u32> = Vec::new();
        let mut category_sectors: Vec<Vec<u32>> = Vec::new();
        let mut category_countries: Vec<Vec<CountryCode>> = Vec::new();
        let mut category_position: FastMap<u32, usize> = FastMap::default();
        for (index, link) in self.links.iter().enumerate() {
            let processor_ix = self.register.link_parties(link.engagement).1;
            let at = *position.entry(processor_ix).or_insert_with(|| {
                recipients.push(Recipient {
                    chain_register: self.register,
                    organisation: self.register.organisation_at(processor_ix),
                    organisation_ix: processor_ix,
                    depth: link.depth,
                    links: Vec::with_capacity(1),
                });
                recipients.len() - 1
            });
            let recipient = &mut recipients[at];
            recipient.depth = recipient.depth.min(link.depth);
            recipient.links.push((link.engagement, index as u32));

            let link_facts = &facts.links[link.engagement as usize];
            let at = *category_position
                .entry(link_facts.category)
                .or_insert_with(|| {
                    category_ids.push(link_facts.category);
                    category_sectors.push(Vec::new());
                    category_countries.push(Vec::new());
                    category_ids.len() - 1
                });
            let sector = facts.org_sector[processor_ix as usize];
            if sector != Facts::NONE {
                push_unique(&mut category_sectors[at], sector);
            }
            if link_facts.has_locations {
                for location in &self.engagement(link).locations {
                    push_unique(&mut category_countries[at], location.country());
                }
            } else {
                push_unique(
                    &mut category_countries[at],
                    facts.org_country[processor_ix as usize],
                );
            }
        }
        let text = |ix: u32| facts.texts[ix as usize].as_str();
        let mut categories: Vec<RecipientCategory<'r>> = category_ids
            .into_iter()
            .zip(category_sectors)
            .zip(category_countries)
            .map(|((category, sectors), countries)| RecipientCategory {
                category: text(category),
                sectors: sectors.into_iter().map(text).collect(),
                countries,
            })
            .collect();
        // Organisations are stored in id order, so their index orders them by id.
        recipients.sort_unstable_by_key(|r| (r.depth, r.organisation_ix));
        for category in &mut categories {
            category.sectors.sort_unstable();
            category.countries.sort_unstable();
        }
        categories.sort_unstable_by(|a, b| a.category.cmp(b.category));
        Recipients {
            recipients,
            categories,
        }
    }

    /// A plain, serialisable picture of the chain for the CLI and the API.
    pub fn view(&self) -> ChainView {
        let reference = ReferenceData::builtin();
        let links = self
            .links
            .iter()
            .enumerate()
            .map(|(index, link)| {
                let engagement = self.engagement(link);
                let processor = self.processor(link);
                let locations = self.locations(link);
                LinkView {
                    engagement: engagement.id.clone(),
                    depth: link.depth,
                    path: self.path(index).into_iter().cloned().collect(),
                    engaged_by: engagement.engaged_by.clone(),
                    processor: processor.id.clone(),
                    processor_name: processor.name.clone(),
                    country: processor.country,
                    service: engagement.service.to_string(),
                    outside_eea: locations.iter().any(|&c| !reference.in_eea(c, self.at))
                        || processor.kind
                            == crate::model::OrganisationKind::InternationalOrganisation,
                    locations,
                    since: engagement.since,
                    until: engagement.until,
                    contract: engagement.contract.clone(),
                    authorisation: engagement.authorisation.as_deref().cloned(),
                }
            })
            .collect();
        ChainView {
            activity: self.activity.id.clone(),
            controller: self.activity.controller.clone(),
            joint_controllers: self.activity.joint_controllers.clone(),
            at: self.at,
            links,
            detached: self
                .detached
                .iter()
                .map(|&ix| self.register.engagement_at(ix).id.clone())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ChainView {
    pub activity: Slug,
    pub controller: Slug,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub joint_controllers: Vec<Slug>,
    #[schemars(with = "Option<crate::values::IsoDate>")]
    pub at: Option<Date>,
    pub links: Vec<LinkView>,
    /// In force on the day, but hanging from a party not in the chain that day.
    pub detached: Vec<Slug>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LinkView {
    pub engagement: Slug,
    pub depth: u32,
    /// Organisation ids from the controller to this processor.
    pub path: Vec<Slug>,
    pub engaged_by: Slug,
    pub processor: Slug,
    pub processor_name: String,
    pub country: CountryCode,
    pub service: String,
    pub locations: Vec<CountryCode>,
    pub outside_eea: bool,
    #[schemars(with = "crate::values::IsoDate")]
    pub since: Date,
    #[schemars(with = "Option<crate::values::IsoDate>")]
    pub until: Option<Date>,
    pub contract: Option<Slug>,
    pub authorisation: Option<Authorisation>,
}

/// A processor of the chain, once, however many links lead to it.
#[derive(Debug, Clone)]
pub struct Recipient<'r> {
    chain_register: &'r Register,
    pub organisation: &'r Organisation,
    organisation_ix: OrgIx,
    /// The smallest depth at which it appears.
    pub depth: u32,
    /// (engagement, index in the chain's links) of every link that reaches it.
    links: Vec<(EngagementIx, u32)>,
}

impl<'r> Recipient<'r> {
    fn engagements_iter(&self) -> impl Iterator<Item = &'r Engagement> + '_ {
        self.links
            .iter()
            .map(|&(ix, _)| self.chain_register.engagement_at(ix))
    }

    /// What it does, each description once, sorted.
    pub fn services(&self) -> Vec<&'r str> {
        sorted_unique(self.engagements_iter().map(|e| e.service.as_str()))
    }

    /// Its recipient categories (Art. 13(1)(e)), sorted.
    pub fn categories(&self) -> Vec<&'r str> {
        sorted_unique(self.engagements_iter().map(Engagement::category))
    }

    /// Where it processes, sorted.
    pub fn locations(&self) -> Vec<CountryCode> {
        let country = self.organisation.country;
        sorted_unique(self.engagements_iter().flat_map(|e| e.countries(country)))
    }

    /// The engagements that make it a recipient, sorted.
    pub fn engagements(&self) -> Vec<&'r Slug> {
        sorted_unique(self.engagements_iter().map(|e| &e.id))
    }

    /// Indices in [`Chain::links`] of the links that reach it.
    pub fn link_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.links.iter().map(|&(_, index)| index as usize)
    }
}

fn sorted_unique<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut list: Vec<T> = items.collect();
    list.sort_unstable();
    list.dedup();
    list
}

/// A recipient category for a notice (Art. 13(1)(e)), with sector and location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RecipientCategory<'r> {
    pub category: &'r str,
    pub sectors: Vec<&'r str>,
    pub countries: Vec<CountryCode>,
}

#[derive(Debug, Clone)]
pub struct Recipients<'r> {
    /// By depth, then id.
    pub recipients: Vec<Recipient<'r>>,
    pub categories: Vec<RecipientCategory<'r>>,
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, value: T) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// A recipient as the API and CLI show it (the shape of its serialisation).
#[derive(Serialize, schemars::JsonSchema)]
struct RecipientView<'a> {
    id: &'a Slug,
    name: &'a str,
    country: CountryCode,
    address: Option<&'a str>,
    contact: Option<&'a crate::model::Contact>,
    depth: u32,
    services: Vec<&'a str>,
    categories: Vec<&'a str>,
    locations: Vec<CountryCode>,
    engagements: Vec<&'a Slug>,
}

impl schemars::JsonSchema for Recipients<'_> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Recipients".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)] // only described, never built
        struct RecipientsView<'a> {
            recipients: Vec<RecipientView<'a>>,
            categories: Vec<RecipientCategory<'a>>,
        }
        RecipientsView::json_schema(generator)
    }
}

impl Serialize for Recipient<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RecipientView {
            id: &self.organisation.id,
            name: &self.organisation.name,
            country: self.organisation.country,
            address: self.organisation.address.as_deref(),
            contact: self.organisation.contact.as_ref(),
            depth: self.depth,
            services: self.services(),
            categories: self.categories(),
            locations: self.locations(),
            engagements: self.engagements(),
        }
        .serialize(serializer)
    }
}

impl Serialize for Recipients<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a, 'r> {
            recipients: &'a [Recipient<'r>],
            categories: &'a [RecipientCategory<'r>],
        }
        View {
            recipients: &self.recipients,
            categories: &self.categories,
        }
        .serialize(serializer)
    }
}

/// Where an organisation sits: one activity whose chain passes through it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Involvement {
    pub activity: Slug,
    pub controller: Slug,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub joint_controllers: Vec<Slug>,
    /// Every path from a controller down to the organisation.
    pub paths: Vec<Vec<Slug>>,
    /// The engagements in which it is the processor.
    pub engagements: Vec<Slug>,
}

/// Every activity (and its controllers) whose chain on `at` passes through `organisation` as
/// a processor: who must be asked when it wants a new sub-processor.
pub fn involvement(
    register: &Register,
    organisation: &str,
    at: Option<Date>,
) -> Result<Vec<Involvement>, ChainError> {
    let org = register
        .organisation_index(organisation)
        .ok_or_else(|| ChainError::UnknownOrganisation(organisation.to_owned()))?;
    let activities: BTreeSet<&Slug> = register
        .engagements_as_processor(org)
        .iter()
        .map(|&ix| register.engagement_at(ix))
        .filter(|e| at.is_none_or(|date| e.in_force_on(date)))
        .map(|e| &e.activity)
        .collect();
    let mut found = Vec::new();
    for activity in activities {
        let chain = Chain::derive(register, activity.as_str(), at)?;
        let mut paths = Vec::new();
        let mut engagements = BTreeSet::new();
        for (index, link) in chain.links.iter().enumerate() {
            if register.link_parties(link.engagement).1 == org {
                paths.push(chain.path(index).into_iter().cloned().collect());
                engagements.insert(chain.engagement(link).id.clone());
            }
        }
        if !paths.is_empty() {
            found.push(Involvement {
                activity: chain.activity.id.clone(),
                controller: chain.activity.controller.clone(),
                joint_controllers: chain.activity.joint_controllers.clone(),
                paths,
                engagements: engagements.into_iter().collect(),
            });
        }
    }
    Ok(found)
}
