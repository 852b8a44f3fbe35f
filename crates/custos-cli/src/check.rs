//! `custos check`: the rules over manifests or the stored register, as text, JSON, Markdown or
//! SARIF 2.1.0.

use std::fmt::Write;

use custos_core::checks::{Finding, Report, Rule, Severity, rules};
use custos_core::manifest::{SourceLocation, SourceMap};
use custos_core::register::Register;
use serde_json::{Value, json};

use crate::cli::CheckFormat;

/// Where the register came from: manifests (whose entries can be located) or the database.
pub enum Origin<'a> {
    Manifests(&'a SourceMap),
    Database(&'a str),
}

impl Origin<'_> {
    fn locate(&self, finding: &Finding) -> Option<SourceLocation> {
        match self {
            Self::Manifests(map) => map.locate(finding.object.kind, finding.object.id.as_str()),
            Self::Database(_) => None,
        }
    }
}

/// Checks that a --rule filter names a rule.
pub fn known_rule(id: &str) -> Result<(), String> {
    if rules::rule(id).is_some() {
        Ok(())
    } else {
        Err(format!(
            "--rule {id:?} is not a rule of the checks: expected one of {}",
            rules::ALL
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

pub fn render(
    format: CheckFormat,
    report: &Report,
    register: &Register,
    origin: &Origin<'_>,
) -> anyhow::Result<String> {
    Ok(match format {
        CheckFormat::Text => text(report, register, origin),
        CheckFormat::Json => serde_json::to_string_pretty(&json_report(report, origin))? + "\n",
        CheckFormat::Markdown => markdown(report, origin),
        CheckFormat::Sarif => serde_json::to_string_pretty(&sarif(report, origin))? + "\n",
    })
}

pub fn rules_listing(format: CheckFormat) -> anyhow::Result<String> {
    Ok(match format {
        CheckFormat::Markdown => rules::markdown(),
        CheckFormat::Json => serde_json::to_string_pretty(rules::ALL)? + "\n",
        CheckFormat::Sarif => anyhow::bail!(
            "--list-rules prints text, json or markdown; the SARIF output lists the rules in its tool section"
        ),
        CheckFormat::Text => {
            let mut out = String::new();
            for rule in rules::ALL {
                let _ = writeln!(
                    out,
                    "{:<36} {:<8} {}\n{:<45} {}",
                    rule.id,
                    rule.severity,
                    rule.title,
                    "",
                    rule.sources.join("; ")
                );
            }
            out
        }
    })
}

fn where_(finding: &Finding, origin: &Origin<'_>) -> String {
    let entry = format!("{} {}", finding.object.kind, finding.object.id);
    match origin.locate(finding) {
        Some(location) => format!("{location}: {entry}"),
        None => entry,
    }
}

fn link_line(finding: &Finding) -> Option<String> {
    let engagement = finding.engagement.as_ref()?;
    let path: Vec<&str> = finding.path.iter().map(|p| p.as_str()).collect();
    Some(format!(
        "link {engagement} at depth {}: {}",
        finding.depth.unwrap_or(0),
        path.join(" → ")
    ))
}

fn acknowledgement_line(finding: &Finding) -> Option<String> {
    if let Some(ack) = &finding.acknowledged {
        return Some(format!(
            "acknowledged until {}{}: {}",
            ack.until,
            ack.by
                .as_ref()
                .map(|by| format!(" by {by}"))
                .unwrap_or_default(),
            ack.reason
        ));
    }
    finding
        .acknowledgement_expired
        .map(|until| format!("its acknowledgement expired on {until}"))
}

fn text(report: &Report, register: &Register, origin: &Origin<'_>) -> String {
    let mut out = String::new();
    let mut current: Option<Option<&str>> = None;
    for finding in &report.findings {
        let activity = finding.activity.as_ref().map(|a| a.as_str());
        if current != Some(activity) {
            current = Some(activity);
            let heading = match activity.and_then(|a| register.activity(a)) {
                Some(a) => format!(
                    "{} · controller {}{}",
                    a.id,
                    a.controller,
                    a.name
                        .as_ref()
                        .map(|n| format!(" · {n}"))
                        .unwrap_or_default()
                ),
                None => "Register-wide".to_owned(),
            };
            let _ = writeln!(out, "{heading}");
        }
        let rule = finding.rule();
        let status = if finding.counts() {
            finding.severity.as_str().to_owned()
        } else {
            format!("({})", finding.severity)
        };
        let _ = writeln!(out, "  {status:<9} {}: {}", finding.rule, finding.title);
        let _ = writeln!(out, "            {}", where_(finding, origin));
        if let Some(link) = link_line(finding) {
            let _ = writeln!(out, "            {link}");
        }
        let _ = writeln!(out, "            {}", finding.message);
        if let Some(rule) = rule {
            let _ = writeln!(out, "            rests on {}", rule.sources.join("; "));
            let _ = writeln!(out, "            fix: {}", rule.remediation);
        }
        if let Some(line) = acknowledgement_line(finding) {
            let _ = writeln!(out, "            {line}");
        }
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary_line(report, origin));
    out
}

fn summary_line(report: &Report, origin: &Origin<'_>) -> String {
    let s = report.summary;
    let what = match origin {
        Origin::Manifests(_) => "the manifests".to_owned(),
        Origin::Database(url) => format!("the register in {url}"),
    };
    format!(
        "Checked {what} as of {}: {} error(s), {} warning(s), {} info, {} acknowledged.",
        report.on, s.errors, s.warnings, s.infos, s.acknowledged
    )
}

fn markdown(report: &Report, origin: &Origin<'_>) -> String {
    let mut out = String::from("# Custos check\n\n");
    let _ = writeln!(out, "{}\n", summary_line(report, origin));
    if report.findings.is_empty() {
        return out;
    }
    out.push_str("| severity | rule | activity | link (depth) | entry | finding |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    for finding in &report.findings {
        let mut message = finding.message.clone();
        if let Some(line) = acknowledgement_line(finding) {
            message = format!("{message} ({line})").into();
        }
        let _ = writeln!(
            out,
            "| {} | [`{}`](docs/rules.md#{}) | {} | {} | {} | {} |",
            if finding.counts() {
                finding.severity.as_str().to_owned()
            } else {
                format!("~~{}~~", finding.severity)
            },
            finding.rule,
            finding.rule,
            finding.activity.as_ref().map_or("", |a| a.as_str()),
            finding
                .engagement
                .as_ref()
                .map(|e| format!("{e} ({})", finding.depth.unwrap_or(0)))
                .unwrap_or_default(),
            cell(&where_(finding, origin)),
            cell(&message)
        );
    }
    out
}

fn json_report(report: &Report, origin: &Origin<'_>) -> Value {
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let mut value = serde_json::to_value(finding).unwrap_or(Value::Null);
            if let (Some(location), Value::Object(map)) = (origin.locate(finding), &mut value) {
                map.insert(
                    "location".to_owned(),
                    serde_json::to_value(location).unwrap_or(Value::Null),
                );
            }
            value
        })
        .collect();
    json!({
        "on": report.on,
        "summary": report.summary,
        "findings": findings,
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn sarif_rule(rule: &Rule) -> Value {
    json!({
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": format!("{} Remediation: {}", rule.description, rule.remediation),
            "markdown": format!(
                "{}\n\n**Rests on:** {}\n\n**Remediation:** {}",
                rule.description,
                rule.sources.join("; "),
                rule.remediation
            ),
        },
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {"tags": ["gdpr", "privacy"], "sources": rule.sources},
    })
}

/// A manifest path as a SARIF artifact location: relative paths stay relative to the
/// checkout (`%SRCROOT%`), so code-scanning UIs find the file.
fn artifact_location(file: &str) -> Value {
    let path = std::path::Path::new(file);
    if path.is_absolute() {
        json!({"uri": format!("file://{}", file.replace('\\', "/"))})
    } else {
        let relative = file.trim_start_matches("./").replace('\\', "/");
        json!({"uri": relative, "uriBaseId": "%SRCROOT%"})
    }
}

fn sarif(report: &Report, origin: &Origin<'_>) -> Value {
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let rule_index = rules::ALL.iter().position(|r| r.id == finding.rule);
            let mut location = json!({
                "logicalLocations": [{
                    "name": finding.object.id.as_str(),
                    "fullyQualifiedName": format!("{}/{}", finding.object.kind, finding.object.id),
                    "kind": "object",
                }],
            });
            if let Some(place) = origin.locate(finding) {
                location["physicalLocation"] = json!({
                    "artifactLocation": artifact_location(&place.file),
                    "region": {"startLine": place.line, "startColumn": place.column},
                });
            }
            let mut result = json!({
                "ruleId": finding.rule,
                "level": sarif_level(finding.severity),
                "message": {"text": match link_line(finding) {
                    Some(link) => format!("{} ({link})", finding.message),
                    None => finding.message.to_string(),
                }},
                "locations": [location],
                // Stable across runs and line moves, so a code-scanning UI keeps its state.
                "partialFingerprints": {
                    "custosFinding/v1": format!(
                        "{}:{}:{}:{}",
                        finding.rule,
                        finding.object.kind,
                        finding.object.id,
                        finding.activity.as_ref().map_or("", |a| a.as_str())
                    ),
                },
                "properties": {
                    "activity": finding.activity,
                    "engagement": finding.engagement,
                    "depth": finding.depth,
                    "path": finding.path,
                },
            });
            if let Some(index) = rule_index {
                result["ruleIndex"] = json!(index);
            }
            if let Some(ack) = &finding.acknowledged {
                result["suppressions"] = json!([{
                    "kind": "inSource",
                    "status": "accepted",
                    "justification": format!(
                        "{} (acknowledged until {}{})",
                        ack.reason,
                        ack.until,
                        ack.by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()
                    ),
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "custos",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules::ALL.iter().map(sarif_rule).collect::<Vec<_>>(),
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory custos check ran in."}}},
            "properties": {"judgedOn": report.on, "summary": report.summary},
            "results": results,
        }],
    })
}
