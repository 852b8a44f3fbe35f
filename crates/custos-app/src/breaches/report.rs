//! What a controller files and keeps: the authority's report (Art. 33(3)) for one case, as
//! data and as a document; the communication to the data subjects (Art. 34(2)); the register
//! of breaches (Art. 33(5)) of an organisation.

use std::collections::HashSet;

use custos_core::breach::{self, Assessment, BreachFacts, Decision};
use custos_core::register::Register;
use custos_store::{Communication, Filing, StoredCase, StoredHop};
use jiff::Timestamp;

use super::{BreachView, name_of, view};
use crate::clock::stamp;
use crate::{AppError, Store};

/// The authority a controller notifies: the supervisory authority of its main establishment,
/// lead authority under the one-stop shop (Art. 56) where the processing is cross-border.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct CompetentAuthority {
    pub name: String,
    pub country: String,
    pub website: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Where to notify: the authority's own page, or the EDPB's list of them.
    pub breach_notification: String,
    pub basis: String,
}

/// One link on the way from a controller to the breached party.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportLink {
    pub activity: String,
    pub engagement: String,
    pub depth: u32,
    pub engaged_by: String,
    pub processor: String,
    pub processor_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breach_notice_hours: Option<u32>,
    #[schemars(with = "String")]
    pub since: custos_core::Date,
    #[schemars(with = "Option<String>")]
    pub until: Option<custos_core::Date>,
    pub locations: Vec<String>,
    /// Each transfer of the link: destination, mechanism, whether it holds.
    pub transfers: Vec<String>,
}

/// One relay on the way up, as the controller's report shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportRelay {
    pub sender: String,
    pub recipient: String,
    pub received_at: Option<String>,
    pub acknowledged_at: Option<String>,
    pub relayed_by: Option<String>,
    pub period_hours: u32,
}

/// A phase of the facts, as listed in the report.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportPhase {
    pub version: u32,
    pub at: String,
    pub organisation: String,
    pub note: String,
}

/// A finding of the checks about the case's activities.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportFinding {
    pub rule: String,
    pub severity: String,
    pub message: String,
}

/// The report to the supervisory authority for one controller's case: the Art. 33(3)
/// elements, the phases and filings so far, and the chain.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AuthorityReport {
    pub breach: String,
    pub controller: custos_core::notice::Party,
    pub authority: Option<CompetentAuthority>,
    pub party: String,
    pub party_name: String,
    pub facts: BreachFacts,
    pub version: u32,
    pub aware_at: Option<String>,
    pub awareness: Option<String>,
    pub deadline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<breach::SeverityScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    pub phases: Vec<ReportPhase>,
    pub filings: Vec<Filing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication: Option<Communication>,
    pub chain: Vec<ReportLink>,
    pub relays: Vec<ReportRelay>,
    pub findings: Vec<ReportFinding>,
    pub generated_at: String,
}

/// The authority of a controller's main establishment.
pub fn competent_authority(register: &Register, controller: &str) -> Option<CompetentAuthority> {
    let organisation = register.organisation(controller)?;
    let data = custos_core::refdata::ReferenceData::builtin();
    let authority = data.authority(organisation.country)?;
    Some(CompetentAuthority {
        name: authority.name.clone(),
        country: organisation.country.to_string(),
        website: authority.website.clone(),
        address: authority.address.clone(),
        breach_notification: authority
            .breach_notification
            .clone()
            .unwrap_or_else(|| data.breach_directory().to_owned()),
        basis: format!(
            "Supervisory authority of the main establishment in {} (Art. 55); lead supervisory authority for cross-border processing under the one-stop shop (Art. 56)",
            data.country_name(organisation.country)
        ),
    })
}

/// The links from the case's controller down to the breached party, as they stood when the
/// breach began.
fn report_chain(register: &Register, view: &BreachView, case: &StoredCase) -> Vec<ReportLink> {
    let (from, _) = view.breach.facts.days();
    let mut links = Vec::new();
    for activity in &case.scope.activities {
        let Ok(chain) = custos_core::chain::Chain::derive(register, activity.as_str(), Some(from))
        else {
            continue;
        };
        for (index, link) in chain.links.iter().enumerate() {
            let path = chain.path(index);
            let on_a_path = case
                .scope
                .paths
                .iter()
                .any(|p| p.len() >= path.len() && p.iter().zip(&path).all(|(a, b)| a == *b));
            if !on_a_path {
                continue;
            }
            let engagement = chain.engagement(link);
            let processor = chain.processor(link);
            let contract = engagement
                .contract
                .as_ref()
                .and_then(|c| register.contract(c.as_str()));
            let mut found = Vec::new();
            custos_core::transfer::transfers_of_link(&chain, index, from, &mut found);
            links.push(ReportLink {
                activity: activity.to_string(),
                engagement: engagement.id.to_string(),
                depth: link.depth,
                engaged_by: engagement.engaged_by.to_string(),
                processor: processor.id.to_string(),
                processor_name: processor.name.clone(),
                contract: engagement.contract.as_ref().map(ToString::to_string),
                breach_notice_hours: contract.and_then(|c| c.breach_notice_hours),
                since: engagement.since,
                until: engagement.until,
                locations: chain
                    .locations(link)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                transfers: found
                    .iter()
                    .map(|t| {
                        format!(
                            "{}: {} ({})",
                            match &t.destination {
                                custos_core::transfer::Destination::Country(c) => c.to_string(),
                                custos_core::transfer::Destination::InternationalOrganisation(
                                    o,
                                ) => o.to_string(),
                            },
                            custos_core::notice::mechanism_kind(t.relied_on()),
                            if t.assessment.valid {
                                "holds"
                            } else {
                                "does not hold"
                            }
                        )
                    })
                    .collect(),
            });
        }
    }
    links
}

/// The report for `controller`'s case of breach `key`.
pub async fn authority_report(
    store: &Store,
    register: &Register,
    key: &str,
    controller: &str,
    now: Timestamp,
) -> Result<AuthorityReport, AppError> {
    let view = view(store, key).await?;
    let case = view
        .case(controller)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("{controller}'s case of breach {key}")))?;
    let organisation = register
        .organisation(controller)
        .ok_or_else(|| AppError::NotFound(format!("organisation {controller}")))?;
    let findings = crate::notices::check(store, register, crate::clock::day_of(now))
        .await?
        .findings
        .into_iter()
        .filter(|f| {
            f.activity
                .as_ref()
                .is_some_and(|a| case.scope.activities.contains(a))
                || f.object.id.as_str() == controller
        })
        .map(|f| ReportFinding {
            rule: f.rule.to_owned(),
            severity: f.severity.as_str().to_owned(),
            message: f.message.to_string(),
        })
        .collect();
    let on_paths: HashSet<&str> = case
        .scope
        .paths
        .iter()
        .flatten()
        .map(|o| o.as_str())
        .collect();
    Ok(AuthorityReport {
        breach: key.to_owned(),
        controller: custos_core::notice::Party::of(organisation),
        authority: competent_authority(register, controller),
        party_name: name_of(register, &view.breach.party),
        party: view.breach.party.clone(),
        facts: view.breach.facts.clone(),
        version: view.breach.version,
        aware_at: case.aware_at.clone(),
        awareness: case.awareness.clone(),
        deadline: case.deadline.clone(),
        severity: case
            .assessment
            .as_ref()
            .and_then(Assessment::severity_score),
        assessment: case.assessment.clone(),
        decision: case.decision.clone(),
        phases: view
            .phases
            .iter()
            .map(|p| ReportPhase {
                version: p.version,
                at: p.at.clone(),
                organisation: p.organisation.clone(),
                note: p.note.clone(),
            })
            .collect(),
        filings: case.filings.clone(),
        communication: case.communication.clone(),
        chain: report_chain(register, &view, &case),
        relays: view
            .hops
            .iter()
            .filter(|h| {
                on_paths.contains(h.hop.sender.as_str())
                    && on_paths.contains(h.hop.recipient.as_str())
            })
            .map(|h| ReportRelay {
                sender: h.hop.sender.to_string(),
                recipient: h.hop.recipient.to_string(),
                received_at: h.received_at.clone(),
                acknowledged_at: h.acknowledged_at.clone(),
                relayed_by: h.relayed_by.clone(),
                period_hours: h.hop.period_hours(),
            })
            .collect(),
        findings,
        generated_at: stamp(now),
    })
}

/// One row of an organisation's register of breaches (Art. 33(5)).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RegisterRow {
    pub breach: String,
    /// `controller` (its own case) or `processor` (it happened there or passed through it).
    pub role: String,
    pub party: String,
    pub facts: BreachFacts,
    pub aware_at: Option<String>,
    pub deadline: Option<String>,
    pub decision: Option<Decision>,
    pub filings: Vec<Filing>,
    pub communication: Option<Communication>,
    /// For a processor: when it passed the report on.
    pub relayed_at: Option<String>,
}

/// Every breach an organisation must document: its cases as a controller, and as a processor
/// the breaches at it or relayed through it.
pub async fn register_of(store: &Store, organisation: &str) -> Result<Vec<RegisterRow>, AppError> {
    let mut tx = store.read().await?;
    let mut rows = Vec::new();
    for case in tx.breach_cases_of(organisation).await? {
        let Some(breach) = tx.breach(&case.breach_key).await? else {
            continue;
        };
        rows.push(RegisterRow {
            breach: breach.key,
            role: "controller".to_owned(),
            party: breach.party,
            facts: breach.facts,
            aware_at: case.aware_at,
            deadline: case.deadline,
            decision: case.decision,
            filings: case.filings,
            communication: case.communication,
            relayed_at: None,
        });
    }
    let as_processor: Vec<String> = vec![organisation.to_owned()];
    for breach in tx.breaches_involving(Some(&as_processor)).await? {
        if rows.iter().any(|r| r.breach == breach.key) {
            continue;
        }
        let hops = tx.breach_hops(&breach.key).await?;
        let outgoing: Vec<&StoredHop> = hops
            .iter()
            .filter(|h| h.hop.sender.as_str() == organisation)
            .collect();
        if outgoing.is_empty() && breach.party != organisation {
            continue;
        }
        let aware_at = if breach.party == organisation {
            Some(stamp(breach.facts.aware_at))
        } else {
            hops.iter()
                .filter(|h| h.hop.recipient.as_str() == organisation)
                .filter_map(|h| h.received_at.clone())
                .min()
        };
        rows.push(RegisterRow {
            breach: breach.key,
            role: "processor".to_owned(),
            party: breach.party,
            facts: breach.facts,
            aware_at,
            deadline: None,
            decision: None,
            filings: Vec::new(),
            communication: None,
            relayed_at: outgoing.iter().filter_map(|h| h.received_at.clone()).min(),
        });
    }
    tx.rollback().await?;
    rows.sort_by(|a, b| b.breach.cmp(&a.breach));
    Ok(rows)
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "—".to_owned(), str::to_owned)
}

fn natures(facts: &BreachFacts) -> String {
    facts
        .nature
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn slugs(items: &[custos_core::values::Slug]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl AuthorityReport {
    /// The report as a document (HTML, PDF): the Art. 33(3) elements first, then the
    /// decision, the phases and filings, the chain, the relays, and the findings.
    /// Times are shown in `zone` (the controller's), named, to the minute.
    pub fn document(
        &self,
        language: custos_render::Language,
        zone: &jiff::tz::TimeZone,
    ) -> custos_render::records::Document {
        use custos_render::records::{Document, Section, in_language};
        let l = in_language(language);
        let at = |moment: jiff::Timestamp| crate::clock::moment_in(moment, zone);
        let stamp = |stamp: Option<&str>| match stamp {
            Some(text) => crate::clock::parse_stamp(text).map_or_else(|| text.to_owned(), at),
            None => "—".to_owned(),
        };
        let facts = &self.facts;
        let pair = |label: &str, value: String| vec![label.to_owned(), value];
        let mut elements = vec![
            pair(
                l("Where it happened", "Dónde ocurrió"),
                format!("{} ({})", self.party_name, self.party),
            ),
            pair(
                l("When", "Cuándo"),
                match facts.occurred_until {
                    Some(until) => format!("{} – {}", at(facts.occurred_from), at(until)),
                    None => format!("{} {}", l("from", "desde"), at(facts.occurred_from)),
                },
            ),
            pair(
                l(
                    "The party where it happened became aware",
                    "La parte donde ocurrió tuvo conocimiento",
                ),
                at(facts.aware_at),
            ),
            pair(
                l(
                    "The controller became aware",
                    "El responsable tuvo conocimiento",
                ),
                format!(
                    "{} ({})",
                    stamp(self.aware_at.as_deref()),
                    or_dash(self.awareness.as_deref())
                ),
            ),
            pair(
                l("72 hours end", "Fin de las 72 horas"),
                stamp(self.deadline.as_deref()),
            ),
            pair(
                l("(a) Nature of the breach", "a) Naturaleza de la violación"),
                format!("{}: {}", natures(facts), facts.description),
            ),
            pair(
                l("(a) Systems concerned", "a) Sistemas afectados"),
                facts.systems.join(", "),
            ),
            pair(
                l(
                    "(a) Categories of data subjects",
                    "a) Categorías de interesados",
                ),
                slugs(&facts.subject_categories),
            ),
            pair(
                l(
                    "(a) Approximate number of data subjects",
                    "a) Número aproximado de interesados",
                ),
                facts
                    .subjects
                    .map_or_else(|| l("unknown", "desconocido").to_owned(), |s| s.to_string()),
            ),
            pair(
                l(
                    "(a) Categories of personal data records",
                    "a) Categorías de registros de datos personales",
                ),
                slugs(&facts.data_categories),
            ),
            pair(
                l(
                    "(a) Approximate number of records",
                    "a) Número aproximado de registros",
                ),
                facts
                    .records
                    .map_or_else(|| l("unknown", "desconocido").to_owned(), |s| s.to_string()),
            ),
            pair(
                l(
                    "(b) Data protection officer or contact point",
                    "b) Delegado de protección de datos o punto de contacto",
                ),
                {
                    let dpo: Vec<String> = [
                        self.controller.dpo_name.clone(),
                        self.controller.dpo_email.clone(),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    if dpo.is_empty() {
                        format!("{} <{}>", facts.contact.name, facts.contact.email)
                    } else {
                        dpo.join(", ")
                    }
                },
            ),
            pair(
                l("(c) Likely consequences", "c) Consecuencias probables"),
                facts.consequences.clone(),
            ),
            pair(
                l("(d) Measures taken", "d) Medidas adoptadas"),
                facts.measures_taken.clone(),
            ),
            pair(
                l("(d) Measures proposed", "d) Medidas propuestas"),
                facts.measures_proposed.clone(),
            ),
        ];
        if let Some(authority) = &self.authority {
            elements.insert(
                0,
                pair(
                    l("Supervisory authority", "Autoridad de control"),
                    format!(
                        "{} — {}{} — {} {}",
                        authority.name,
                        authority.basis,
                        authority
                            .address
                            .as_ref()
                            .map(|a| format!(" — {a}"))
                            .unwrap_or_default(),
                        l("notify at", "notificar en"),
                        authority.breach_notification
                    ),
                ),
            );
        }
        let mut decision = Vec::new();
        if let Some(assessment) = &self.assessment {
            decision.push(pair(
                l(
                    "Risk (the controller's call)",
                    "Riesgo (decisión del responsable)",
                ),
                assessment.risk.as_str().to_owned(),
            ));
            decision.push(pair(
                l("Reasoning", "Razonamiento"),
                assessment.reasons.clone(),
            ));
        }
        if let Some(score) = &self.severity {
            decision.push(pair(
                l("ENISA severity (aid)", "Gravedad ENISA (ayuda)"),
                format!("{:.2}: {}", score.score, score.level.as_str()),
            ));
        }
        if let Some(d) = &self.decision {
            decision.push(pair(l("Decision", "Decisión"), d.kind.as_str().to_owned()));
            decision.push(pair(l("Reasons", "Motivos"), d.reasons.clone()));
            if let Some(exception) = d.exception {
                decision.push(pair(
                    l(
                        "Subjects not told under",
                        "Interesados no informados en virtud de",
                    ),
                    exception.article().to_owned(),
                ));
            }
            if let Some(delay) = &d.delay_reasons {
                decision.push(pair(
                    l(
                        "Reasons for the delay (Art. 33(1))",
                        "Motivos de la dilación (art. 33.1)",
                    ),
                    delay.clone(),
                ));
            }
        }
        if let Some(c) = &self.communication {
            decision.push(pair(
                l(
                    "Data subjects told (Art. 34)",
                    "Interesados informados (art. 34)",
                ),
                format!("{} ({})", stamp(Some(&c.sent_at)), c.channel),
            ));
        }
        let filings = self
            .phases
            .iter()
            .map(|p| {
                let filed = self
                    .filings
                    .iter()
                    .filter(|f| f.version == p.version)
                    .map(|f| {
                        format!(
                            "{} ({})",
                            stamp(Some(&f.submitted_at)),
                            or_dash(f.reference.as_deref())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                vec![
                    p.version.to_string(),
                    stamp(Some(&p.at)),
                    p.organisation.clone(),
                    p.note.clone(),
                    filed,
                ]
            })
            .collect();
        Document {
            title: l(
                "Personal-data breach report",
                "Notificación de una violación de la seguridad de los datos personales",
            )
            .to_owned(),
            subtitle: l(
                "Notification to the supervisory authority, GDPR Art. 33(3)",
                "Notificación a la autoridad de control, art. 33.3 RGPD",
            )
            .to_owned(),
            organisation: self.controller.clone(),
            on: crate::clock::parse_stamp(&self.generated_at)
                .map_or(custos_core::Date::MIN, crate::clock::day_of),
            version: match language {
                custos_render::Language::En => {
                    format!("breach {}, facts version {}", self.breach, self.version)
                }
                custos_render::Language::Es => {
                    format!(
                        "brecha {}, versión de los hechos {}",
                        self.breach, self.version
                    )
                }
            },
            language,
            sections: vec![
                Section {
                    id: "elements",
                    title: l(
                        "The breach (Art. 33(3)(a)-(d))",
                        "La violación (art. 33.3.a) a d))",
                    ),
                    columns: vec![l("Element", "Elemento"), l("Content", "Contenido")],
                    rows: elements,
                },
                Section {
                    id: "decision",
                    title: l("Assessment and decision", "Evaluación y decisión"),
                    columns: vec![l("Element", "Elemento"), l("Content", "Contenido")],
                    rows: decision,
                },
                Section {
                    id: "phases",
                    title: l(
                        "Phases and filings (Art. 33(4))",
                        "Fases y notificaciones (art. 33.4)",
                    ),
                    columns: vec![
                        l("Version", "Versión"),
                        l("At", "Fecha"),
                        l("From", "De"),
                        l("What it brought", "Qué aportó"),
                        l("Filed", "Notificada"),
                    ],
                    rows: filings,
                },
                Section {
                    id: "chain",
                    title: l(
                        "The chain: who was where, under which contract, since when",
                        "La cadena: quién estaba dónde, con qué contrato, desde cuándo",
                    ),
                    columns: vec![
                        l("Activity", "Actividad"),
                        l("Link", "Vínculo"),
                        l("Depth", "Profundidad"),
                        l("Engaged by", "Contratado por"),
                        l("Processor", "Encargado"),
                        l("Contract", "Contrato"),
                        l("Notice (h)", "Aviso (h)"),
                        l("Since", "Desde"),
                        l("Until", "Hasta"),
                        l("Locations", "Ubicaciones"),
                        l("Transfers", "Transferencias"),
                    ],
                    rows: self
                        .chain
                        .iter()
                        .map(|l| {
                            vec![
                                l.activity.clone(),
                                l.engagement.clone(),
                                l.depth.to_string(),
                                l.engaged_by.clone(),
                                format!("{} ({})", l.processor_name, l.processor),
                                or_dash(l.contract.as_deref()),
                                l.breach_notice_hours
                                    .map_or_else(|| "—".to_owned(), |h| h.to_string()),
                                l.since.to_string(),
                                l.until.map_or_else(String::new, |u| u.to_string()),
                                l.locations.join(", "),
                                l.transfers.join("; "),
                            ]
                        })
                        .collect(),
                },
                Section {
                    id: "relays",
                    title: l(
                        "The report on its way up (Art. 33(2))",
                        "La comunicación cadena arriba (art. 33.2)",
                    ),
                    columns: vec![
                        l("From", "De"),
                        l("To", "A"),
                        l("Received", "Recibida"),
                        l("Acknowledged", "Acusado recibo"),
                        l("Period (h)", "Plazo (h)"),
                        l("Passed on by", "Transmitida por"),
                    ],
                    rows: self
                        .relays
                        .iter()
                        .map(|r| {
                            vec![
                                r.sender.clone(),
                                r.recipient.clone(),
                                stamp(r.received_at.as_deref()),
                                stamp(r.acknowledged_at.as_deref()),
                                r.period_hours.to_string(),
                                or_dash(r.relayed_by.as_deref()),
                            ]
                        })
                        .collect(),
                },
                Section {
                    id: "findings",
                    title: l(
                        "Findings of the checks on these activities",
                        "Hallazgos de las comprobaciones en estas actividades",
                    ),
                    columns: vec![
                        l("Rule", "Regla"),
                        l("Severity", "Gravedad"),
                        l("Finding", "Hallazgo"),
                    ],
                    rows: self
                        .findings
                        .iter()
                        .map(|f| vec![f.rule.clone(), f.severity.clone(), f.message.clone()])
                        .collect(),
                },
            ],
        }
    }
}

/// An organisation's register of breaches (Art. 33(5)) as a document, in `language` or else
/// the organisation's own.
pub fn register_document(
    register: &Register,
    organisation: &str,
    rows: &[RegisterRow],
    on: custos_core::Date,
    language: Option<custos_render::Language>,
) -> Result<custos_render::records::Document, AppError> {
    use custos_render::records::{Document, Section, in_language};
    let party = register
        .organisation(organisation)
        .ok_or_else(|| AppError::NotFound(format!("organisation {organisation}")))?;
    let language = language.unwrap_or_else(|| crate::outbox::language_of(register, organisation));
    let l = in_language(language);
    // Times in the organisation's zone, named, to the minute.
    let zone = crate::clock::zone_of(register, organisation);
    let at = |moment: jiff::Timestamp| crate::clock::moment_in(moment, &zone);
    let stamp = |text: &str| crate::clock::parse_stamp(text).map_or_else(|| text.to_owned(), at);
    Ok(Document {
        title: l(
            "Register of personal-data breaches",
            "Registro de violaciones de la seguridad de los datos personales",
        )
        .to_owned(),
        subtitle: l(
            "Documentation of every breach, GDPR Art. 33(5)",
            "Documentación de cada violación, art. 33.5 RGPD",
        )
        .to_owned(),
        organisation: custos_core::notice::Party::of(party),
        on,
        version: format!("{} {}", rows.len(), l("breaches", "violaciones")),
        language,
        sections: vec![Section {
            id: "breaches",
            title: l(
                "Breaches: facts, effects, remedial action, decision",
                "Violaciones: hechos, efectos, medidas correctivas, decisión",
            ),
            columns: vec![
                l("Breach", "Violación"),
                l("Role", "Función"),
                l("Where", "Dónde"),
                l("Began", "Comenzó"),
                l("Ended", "Terminó"),
                l("Aware", "Conocimiento"),
                l("Nature", "Naturaleza"),
                l("Description", "Descripción"),
                l("Data", "Datos"),
                l("Subjects", "Interesados"),
                l("Records", "Registros"),
                l("Consequences", "Consecuencias"),
                l("Measures taken", "Medidas adoptadas"),
                l("Measures proposed", "Medidas propuestas"),
                l("Decision", "Decisión"),
                l("Reasons", "Motivos"),
                l("Filed", "Notificada"),
                l("Reference", "Referencia"),
                l("Subjects told", "Interesados informados"),
                l("Passed on", "Transmitida"),
            ],
            rows: rows
                .iter()
                .map(|r| {
                    let first_filing = r.filings.first();
                    vec![
                        r.breach.clone(),
                        r.role.clone(),
                        name_of(register, &r.party),
                        at(r.facts.occurred_from),
                        r.facts.occurred_until.map_or_else(String::new, at),
                        r.aware_at.as_deref().map_or_else(String::new, stamp),
                        natures(&r.facts),
                        r.facts.description.clone(),
                        slugs(&r.facts.data_categories),
                        r.facts.subjects.map_or_else(String::new, |s| s.to_string()),
                        r.facts.records.map_or_else(String::new, |s| s.to_string()),
                        r.facts.consequences.clone(),
                        r.facts.measures_taken.clone(),
                        r.facts.measures_proposed.clone(),
                        r.decision
                            .as_ref()
                            .map_or_else(String::new, |d| d.kind.as_str().to_owned()),
                        r.decision
                            .as_ref()
                            .map_or_else(String::new, |d| d.reasons.clone()),
                        first_filing.map_or_else(String::new, |f| stamp(&f.submitted_at)),
                        first_filing
                            .and_then(|f| f.reference.clone())
                            .unwrap_or_default(),
                        r.communication.as_ref().map_or_else(String::new, |c| {
                            format!("{} ({})", stamp(&c.sent_at), c.channel)
                        }),
                        r.relayed_at.as_deref().map_or_else(String::new, stamp),
                    ]
                })
                .collect(),
        }],
    })
}

/// What the communication to the data subjects (Art. 34(2)) says, for its template
/// (`mail.breach-subjects.txt`): the nature of the breach in plain words, the contact point
/// (the DPO where there is one), the likely consequences and the measures.
pub fn communication_context(register: &Register, report: &AuthorityReport) -> serde_json::Value {
    let facts = &report.facts;
    let contact = match (&report.controller.dpo_name, &report.controller.dpo_email) {
        (name, Some(email)) => format!("{} <{email}>", name.clone().unwrap_or_default())
            .trim()
            .to_owned(),
        _ => format!("{} <{}>", facts.contact.name, facts.contact.email),
    };
    serde_json::json!({
        "breach": report.breach,
        "controller": {"id": report.controller.id,
                       "name": name_of(register, report.controller.id.as_str())},
        "description": facts.description,
        "began": crate::clock::day_of(facts.occurred_from).to_string(),
        "data_categories": facts.data_categories,
        "consequences": facts.consequences,
        "measures_taken": facts.measures_taken,
        "measures_proposed": facts.measures_proposed,
        "contact": contact,
        "template_owner": report.controller.id,
        "path": format!("/breaches/{}", report.breach),
    })
}

/// The communication to the data subjects in `language`, through the controller's own
/// template when it wrote one.
pub async fn subject_communication(
    store: &Store,
    register: &Register,
    report: &AuthorityReport,
    language: custos_render::Language,
) -> Result<custos_render::mail::Mail, AppError> {
    let kind = custos_render::notice::TemplateKind::MailBreachSubjects;
    let mut tx = store.read().await?;
    let custom = tx
        .template(
            report.controller.id.as_str(),
            kind.name(),
            language.as_str(),
        )
        .await?;
    tx.rollback().await?;
    custos_render::mail::render(
        kind,
        &communication_context(register, report),
        language,
        &crate::clock::zone_of(register, report.controller.id.as_str()),
        custom.as_ref().map(|t| t.body.as_str()),
    )
    .map_err(|e| AppError::Invalid(format!("template {}: {e}", kind.name())))
}
