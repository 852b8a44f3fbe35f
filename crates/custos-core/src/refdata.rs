//! Reference data compiled in from `data/`: countries with EEA membership, adequacy decisions
//! and standard contractual clauses. Every fact carries dates, so a transfer is judged as of a
//! day; every entry names its legal act. The files are data, not code: a decision added or
//! struck down is an edit to `data/adequacy.yaml`.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::Date;
use crate::values::{CountryCode, Slug};

const COUNTRIES_YAML: &str = include_str!("../../../data/countries.yaml");
const ADEQUACY_YAML: &str = include_str!("../../../data/adequacy.yaml");
const AUTHORITIES_YAML: &str = include_str!("../../../data/authorities.yaml");

/// A supervisory authority (Art. 51), for the right to lodge a complaint (Art. 77).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    #[serde(skip_serializing)]
    #[schemars(skip)]
    country: String,
    pub name: String,
    pub website: String,
    /// Its postal address, where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its page for notifying a personal-data breach (Art. 33), where recorded; else the
    /// EDPB's directory of every authority's page ([`ReferenceData::breach_directory`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breach_notification: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthoritiesFile {
    breach_directory: String,
    authorities: Vec<Authority>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Country {
    /// Shape-checked only: the list itself defines which codes exist.
    code: String,
    pub name: String,
    /// The name in Spanish, for documents in Spanish.
    pub es: Option<String>,
    pub eea_since: Option<Date>,
    pub eea_until: Option<Date>,
    /// Days on which this third country was nonetheless not a transfer destination.
    #[serde(default)]
    pub outside_chapter_v: Vec<Bridge>,
}

/// A period during which sending data to a third country was not a transfer under Chapter V
/// (the EU–UK bridge of 2021).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    pub from: Date,
    /// Last day, inclusive.
    pub until: Date,
    pub act: String,
}

impl Country {
    /// Whether personal data moved freely to this country on `date` (EU or EEA member).
    pub fn in_eea_on(&self, date: Date) -> bool {
        self.eea_since.is_some_and(|since| since <= date)
            && self.eea_until.is_none_or(|until| date <= until)
    }

    /// Whether the country is in the EEA today, for undated questions.
    pub fn in_eea_now(&self) -> bool {
        self.eea_since.is_some() && self.eea_until.is_none()
    }
}

/// Whom an adequacy decision covers inside its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdequacyScope {
    Whole,
    /// Only organisations under the commercial data-protection law (Canada, PIPEDA).
    Commercial,
    /// Only the private sector (Japan, APPI business operators).
    Private,
    /// Only organisations holding a named certification (the US frameworks).
    Certified,
    /// An international organisation, named by `organisation`.
    InternationalOrganisation,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdequacyDecision {
    pub id: Slug,
    country: Option<String>,
    /// For a decision on an international organisation: its reference key.
    pub organisation: Option<Slug>,
    pub act: String,
    pub adopted: Date,
    /// Where the decision applies from a later day than its adoption.
    pub in_force_from: Option<Date>,
    /// The first day it no longer applied: struck down, repealed or expired.
    pub ended: Option<Date>,
    pub ended_by: Option<String>,
    #[serde(default = "whole")]
    pub scope: AdequacyScope,
    pub certification: Option<Slug>,
    pub note: Option<String>,
    /// Recipients recording one of these sectors are outside the decision.
    #[serde(default)]
    pub excluded_sectors: Vec<Slug>,
    /// What the exclusion covers, in the decision's words.
    pub exclusion: Option<String>,
}

fn whole() -> AdequacyScope {
    AdequacyScope::Whole
}

impl AdequacyDecision {
    pub fn country(&self) -> Option<CountryCode> {
        self.country
            .as_deref()
            .and_then(CountryCode::from_reference)
    }

    pub fn in_force_on(&self, date: Date) -> bool {
        self.in_force_from.unwrap_or(self.adopted) <= date
            && self.ended.is_none_or(|end| date < end)
    }
}

/// A set of standard contractual clauses adopted by the Commission (Art. 46(2)(c)).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SccSet {
    pub id: Slug,
    pub act: String,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    /// The modules of Decision 2021/914 that the set covers (1 C2C, 2 C2P, 3 P2P, 4 P2C).
    pub modules: Vec<u8>,
    /// A contract on this set holds only if concluded before this day (the repealed sets:
    /// Decision 2021/914, Art. 4(4)).
    pub concluded_before: Option<Date>,
}

impl SccSet {
    pub fn valid_on(&self, date: Date) -> bool {
        self.valid_from <= date && self.valid_until.is_none_or(|until| date < until)
    }

    /// Whether a contract on this set concluded on `concluded` could be relied on at all.
    pub fn admits_contract_of(&self, concluded: Date) -> bool {
        self.concluded_before.is_none_or(|limit| concluded < limit)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountriesFile {
    countries: Vec<Country>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdequacyFile {
    decisions: Vec<AdequacyDecision>,
    standard_contractual_clauses: Vec<SccSet>,
}

#[derive(Debug)]
pub struct ReferenceData {
    /// Indexed by [`country_slot`]: asked once per link of every chain, so no hashing.
    countries: Vec<Option<Country>>,
    pub adequacy_decisions: Vec<AdequacyDecision>,
    pub scc_sets: Vec<SccSet>,
    authorities: Vec<Authority>,
    breach_directory: String,
}

impl ReferenceData {
    /// The data compiled into this binary.
    pub fn builtin() -> &'static ReferenceData {
        static BUILTIN: OnceLock<ReferenceData> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            #[allow(clippy::expect_used)] // compiled-in files, parsed by the test below
            Self::parse(COUNTRIES_YAML, ADEQUACY_YAML, AUTHORITIES_YAML)
                .expect("data/*.yaml must parse")
        })
    }

    fn parse(
        countries_yaml: &str,
        adequacy_yaml: &str,
        authorities_yaml: &str,
    ) -> Result<Self, String> {
        let authorities: AuthoritiesFile = serde_saphyr::from_str(authorities_yaml)
            .map_err(|e| format!("authorities.yaml: {e}"))?;
        let countries: CountriesFile =
            serde_saphyr::from_str(countries_yaml).map_err(|e| format!("countries.yaml: {e}"))?;
        let adequacy: AdequacyFile =
            serde_saphyr::from_str(adequacy_yaml).map_err(|e| format!("adequacy.yaml: {e}"))?;
        let mut by_code: Vec<Option<Country>> = vec![None; 26 * 26];
        for country in countries.countries {
            let code = CountryCode::from_reference(&country.code)
                .ok_or_else(|| format!("countries.yaml: bad code {:?}", country.code))?;
            by_code[country_slot(code)] = Some(country);
        }
        for decision in &adequacy.decisions {
            let names_country = decision.country.is_some();
            if names_country == decision.organisation.is_some() {
                return Err(format!(
                    "adequacy.yaml: decision {} must name exactly one of country or organisation",
                    decision.id
                ));
            }
            if decision.country.is_some() && decision.country().is_none() {
                return Err(format!(
                    "adequacy.yaml: decision {} has a bad country",
                    decision.id
                ));
            }
            if decision.excluded_sectors.is_empty() == decision.exclusion.is_some() {
                return Err(format!(
                    "adequacy.yaml: decision {}: excluded_sectors and exclusion go together",
                    decision.id
                ));
            }
            if (decision.scope == AdequacyScope::Certified) != decision.certification.is_some() {
                return Err(format!(
                    "adequacy.yaml: decision {}: scope certified and certification go together",
                    decision.id
                ));
            }
        }
        Ok(Self {
            countries: by_code,
            adequacy_decisions: adequacy.decisions,
            scc_sets: adequacy.standard_contractual_clauses,
            authorities: authorities.authorities,
            breach_directory: authorities.breach_directory,
        })
    }

    pub fn country(&self, code: CountryCode) -> Option<&Country> {
        self.countries
            .get(country_slot(code))
            .and_then(Option::as_ref)
    }

    /// Every country of the reference list with its code, in the list's order.
    pub fn countries(&self) -> impl Iterator<Item = (CountryCode, &Country)> {
        self.countries
            .iter()
            .flatten()
            .filter_map(|c| CountryCode::from_reference(&c.code).map(|code| (code, c)))
    }

    pub fn country_name(&self, code: CountryCode) -> String {
        self.country(code)
            .map_or_else(|| code.to_string(), |c| c.name.clone())
    }

    /// The country's name in `language` (`en`, `es`), English where no translation exists.
    pub fn country_name_in(&self, code: CountryCode, language: &str) -> String {
        match (self.country(code), language) {
            (Some(Country { es: Some(es), .. }), "es") => es.clone(),
            _ => self.country_name(code),
        }
    }

    /// Whether `code` was inside the EEA on `date`; undated, whether it is today.
    pub fn in_eea(&self, code: CountryCode, date: Option<Date>) -> bool {
        self.country(code).is_some_and(|c| match date {
            Some(date) => c.in_eea_on(date),
            None => c.in_eea_now(),
        })
    }

    /// The supervisory authority of an establishment in `code`: the state's, for the parts of
    /// member states ISO codes apart (Åland: Finland; the French outermost regions: France).
    pub fn authority(&self, code: CountryCode) -> Option<&Authority> {
        let state = match code.as_str() {
            "AX" => "FI",
            "GF" | "GP" | "MF" | "MQ" | "RE" | "YT" => "FR",
            other => other,
        };
        self.authorities.iter().find(|a| a.country == state)
    }

    /// The EDPB's page listing how to notify a breach to each authority, with their forms
    /// and addresses.
    pub fn breach_directory(&self) -> &str {
        &self.breach_directory
    }

    /// The bridge under which sending data to `code` on `date` was not a transfer, if any.
    pub fn bridge(&self, code: CountryCode, date: Date) -> Option<&Bridge> {
        self.country(code)?
            .outside_chapter_v
            .iter()
            .find(|b| b.from <= date && date <= b.until)
    }

    /// The adequacy decisions ever adopted for a country, oldest first.
    pub fn decisions_for_country(
        &self,
        code: CountryCode,
    ) -> impl Iterator<Item = &AdequacyDecision> {
        self.adequacy_decisions
            .iter()
            .filter(move |d| d.country() == Some(code))
    }

    pub fn decisions_for_organisation<'a>(
        &'a self,
        key: &'a Slug,
    ) -> impl Iterator<Item = &'a AdequacyDecision> + 'a {
        self.adequacy_decisions
            .iter()
            .filter(move |d| d.organisation.as_ref() == Some(key))
    }
}

/// AA..ZZ as 0..676.
fn country_slot(code: CountryCode) -> usize {
    let [a, b] = code.as_str().as_bytes() else {
        return 0;
    };
    usize::from(a.saturating_sub(b'A')) * 26 + usize::from(b.saturating_sub(b'A'))
}

impl CountryCode {
    /// Shape check only, for reading the country list itself.
    pub(crate) fn from_reference(raw: &str) -> Option<CountryCode> {
        let bytes = raw.as_bytes();
        (bytes.len() == 2 && bytes.iter().all(u8::is_ascii_uppercase))
            .then(|| CountryCode::from_bytes([bytes[0], bytes[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn cc(s: &str) -> CountryCode {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_reference_data_parses() {
        let data = ReferenceData::parse(COUNTRIES_YAML, ADEQUACY_YAML, AUTHORITIES_YAML).unwrap();
        assert_eq!(data.countries.iter().flatten().count(), 249);
        let eea_now = data
            .countries
            .iter()
            .flatten()
            .filter(|c| c.in_eea_now())
            .count();
        assert_eq!(
            eea_now, 37,
            "27 EU states plus Iceland, Liechtenstein and Norway, and the seven parts of member states ISO codes apart"
        );
    }

    /// Art. 355 TFEU: Åland and the French outermost regions are EU territory; Mayotte from
    /// 1 Jan 2014 (Council Decision 2012/419/EU); Gibraltar left with the United Kingdom.
    #[test]
    fn eu_territory_follows_art_355_tfeu() {
        let data = ReferenceData::builtin();
        for code in ["AX", "GF", "GP", "MF", "MQ", "RE", "YT"] {
            assert!(data.in_eea(cc(code), Some(date("2026-11-28"))), "{code}");
        }
        assert!(!data.in_eea(cc("YT"), Some(date("2013-12-31"))));
        assert!(data.in_eea(cc("YT"), Some(date("2014-01-01"))));
        assert!(data.in_eea(cc("GI"), Some(date("2020-12-31"))));
        assert!(!data.in_eea(cc("GI"), Some(date("2021-01-01"))));
        assert!(
            !data.in_eea(cc("NC"), None),
            "New Caledonia is an overseas country, not EU territory"
        );
    }

    /// Arts 51 and 77: every EEA state has its supervisory authority on file.
    #[test]
    fn every_eea_state_has_its_authority() {
        let data = ReferenceData::builtin();
        let today = date("2026-11-28");
        for country in data
            .countries
            .iter()
            .flatten()
            .filter(|c| c.in_eea_on(today))
        {
            let code = cc(&country.code);
            let authority = data.authority(code);
            assert!(authority.is_some(), "{}", country.code);
        }
        assert_eq!(
            data.authority(cc("ES")).unwrap().name,
            "Agencia Española de Protección de Datos (AEPD)"
        );
        assert_eq!(data.authority(cc("RE")), data.authority(cc("FR")));
        assert!(data.authority(cc("US")).is_none());
    }

    /// EU–UK Trade and Cooperation Agreement, Art. FINPROV.10A: no transfer to the UK from
    /// 1 Jan to 27 Jun 2021.
    #[test]
    fn the_uk_bridge_covers_the_first_half_of_2021() {
        let data = ReferenceData::builtin();
        assert!(data.bridge(cc("GB"), date("2020-12-31")).is_none());
        assert!(data.bridge(cc("GB"), date("2021-01-01")).is_some());
        assert!(data.bridge(cc("GB"), date("2021-06-27")).is_some());
        assert!(data.bridge(cc("GB"), date("2021-06-28")).is_none());
        assert!(data.bridge(cc("US"), date("2021-03-01")).is_none());
    }

    #[test]
    fn eea_membership_is_dated() {
        let data = ReferenceData::builtin();
        assert!(data.in_eea(cc("ES"), Some(date("2026-01-01"))));
        assert!(data.in_eea(cc("NO"), None));
        assert!(!data.in_eea(cc("IL"), None));
        assert!(data.in_eea(cc("GB"), Some(date("2020-12-31"))));
        assert!(!data.in_eea(cc("GB"), Some(date("2021-01-01"))));
        assert!(!data.in_eea(cc("HR"), Some(date("2013-06-30"))));
    }

    #[test]
    fn us_decisions_follow_the_court() {
        let data = ReferenceData::builtin();
        let in_force = |on: &str| -> Vec<String> {
            data.decisions_for_country(cc("US"))
                .filter(|d| d.in_force_on(date(on)))
                .map(|d| d.id.to_string())
                .collect()
        };
        assert_eq!(in_force("2014-01-01"), ["us-safe-harbour"]);
        assert!(in_force("2015-10-06").is_empty());
        assert_eq!(in_force("2019-06-01"), ["us-privacy-shield"]);
        assert!(in_force("2020-07-16").is_empty());
        assert!(in_force("2022-01-01").is_empty());
        assert_eq!(in_force("2026-11-24"), ["us-dpf"]);
    }

    #[test]
    fn every_country_of_spec_list_is_adequate_today() {
        let data = ReferenceData::builtin();
        let today = date("2026-11-24");
        for code in [
            "AD", "AR", "BR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB",
            "UY", "US",
        ] {
            assert!(
                data.decisions_for_country(cc(code))
                    .any(|d| d.in_force_on(today)),
                "{code}"
            );
        }
        assert!(
            !data
                .decisions_for_country(cc("IN"))
                .any(|d| d.in_force_on(today))
        );
        let epo: Slug = "european-patent-organisation".parse().unwrap();
        assert!(
            data.decisions_for_organisation(&epo)
                .any(|d| d.in_force_on(today))
        );
    }
}
