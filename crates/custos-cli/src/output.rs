//! Text for people; JSON for programs. The JSON shapes are the serialisable views of
//! custos-core, the same the HTTP API will serve.

use std::fmt::Write;

use custos_core::Date;
use custos_core::chain::{Chain, Involvement, Recipients};
use custos_core::model::Decision;
use custos_core::plan::Plan;
use custos_core::refdata::ReferenceData;
use custos_core::transfer::{Destination, Transfer};

/// "as of DATE" or "all engagements ever recorded".
/// Ids in one line: `email, order-history`.
pub fn slugs(ids: &[custos_core::values::Slug]) -> String {
    ids.iter()
        .map(|id| id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn as_of(at: Option<Date>) -> String {
    at.map_or_else(
        || "over all recorded engagements".to_owned(),
        |d| format!("as of {d}"),
    )
}

pub fn chain_text(chain: &Chain<'_>) -> String {
    let register = chain.register;
    let view = chain.view();
    let reference = ReferenceData::builtin();
    let mut out = String::new();
    let controller = register.organisation(view.controller.as_str());
    let _ = writeln!(out, "Chain of {} {}", view.activity, as_of(view.at));
    let _ = writeln!(
        out,
        "{} · {} ({}) · controller",
        view.controller,
        controller.map_or("", |c| c.name.as_str()),
        controller.map_or(String::new(), |c| c.country.to_string()),
    );
    for joint in &view.joint_controllers {
        let _ = writeln!(out, "{joint} · joint controller");
    }
    // For the tree's rails: whether each link is the last child of its parent.
    let mut last_child: std::collections::HashMap<Option<u32>, usize> =
        std::collections::HashMap::new();
    for (index, link) in chain.links.iter().enumerate() {
        last_child.insert(link.parent, index);
    }
    let is_last: Vec<bool> = (0..chain.links.len())
        .map(|i| last_child.get(&chain.links[i].parent) == Some(&i))
        .collect();
    let mut rails: Vec<bool> = Vec::new(); // per depth above: whether a rail continues
    for (index, (link, view_link)) in chain.links.iter().zip(&view.links).enumerate() {
        let depth = link.depth as usize;
        rails.truncate(depth - 1);
        let prefix: String = rails
            .iter()
            .map(|&open| if open { "│  " } else { "   " })
            .collect();
        let branch = if is_last[index] { "└─ " } else { "├─ " };
        rails.push(!is_last[index]);
        let transfer = if view_link.outside_eea {
            " · TRANSFER outside the EEA"
        } else {
            ""
        };
        let locations: Vec<String> = view_link
            .locations
            .iter()
            .map(|c| {
                if reference.in_eea(*c, view.at) {
                    c.to_string()
                } else {
                    format!("{c}*")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{prefix}{branch}[{}] {} · {} ({}){transfer}",
            view_link.depth,
            view_link.processor,
            view_link.processor_name,
            locations.join(", ")
        );
        let detail_prefix = format!("{prefix}{}", if is_last[index] { "   " } else { "│  " });
        let authorisation = match &view_link.authorisation {
            None if view_link.depth == 1 => "engaged by the controller".to_owned(),
            None => "NO AUTHORISATION RECORDED".to_owned(),
            Some(a) => format!(
                "{} by {} on {}",
                match a.decision {
                    Decision::Approved => "approved",
                    Decision::DeemedApproved => "deemed approved",
                    Decision::Objected => "OBJECTED",
                    Decision::Pending => "PENDING",
                },
                a.by,
                a.date
            ),
        };
        let _ = writeln!(
            out,
            "{detail_prefix}{} · link {} · contract {} · since {}{} · {authorisation}",
            view_link.service,
            view_link.engagement,
            view_link.contract.as_ref().map_or("none", |c| c.as_str()),
            view_link.since,
            view_link
                .until
                .map(|u| format!(" until {u}"))
                .unwrap_or_default(),
        );
    }
    if chain.links.is_empty() {
        let _ = writeln!(out, "(no processor)");
    }
    if !view.detached.is_empty() {
        let ids: Vec<&str> = view.detached.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(
            out,
            "Detached (in force, but their engaging party was not in the chain that day): {}",
            ids.join(", ")
        );
    }
    let _ = writeln!(out, "* outside the EEA");
    out
}

pub fn recipients_text(activity: &str, at: Option<Date>, recipients: &Recipients<'_>) -> String {
    let reference = ReferenceData::builtin();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Recipients of {activity} {} (Arts 13(1)(e), 14(1)(e), 15(1)(c))",
        as_of(at)
    );
    if recipients.recipients.is_empty() {
        let _ = writeln!(out, "(none)");
    }
    for recipient in &recipients.recipients {
        let org = recipient.organisation;
        let _ = writeln!(
            out,
            "\n{} · {} · depth {}",
            org.id, org.name, recipient.depth
        );
        let _ = writeln!(
            out,
            "  address:  {}",
            org.address.as_deref().unwrap_or("(not recorded)")
        );
        let _ = writeln!(
            out,
            "  country:  {} ({})",
            reference.country_name(org.country),
            org.country
        );
        let contact = org.contact.as_ref().map(|c| {
            [
                c.name.clone(),
                c.email.as_ref().map(|e| format!("<{e}>")),
                c.phone.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
        });
        let _ = writeln!(
            out,
            "  contact:  {}",
            contact
                .filter(|c| !c.is_empty())
                .as_deref()
                .unwrap_or("(not recorded)")
        );
        let services = recipient.services();
        let _ = writeln!(out, "  service:  {}", services.join("; "));
        let locations: Vec<String> = recipient
            .locations()
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(out, "  processes in: {}", locations.join(", "));
    }
    if !recipients.categories.is_empty() {
        let _ = writeln!(out, "\nCategories of recipients, with sector and location:");
        for category in &recipients.categories {
            let sectors = &category.sectors;
            let countries: Vec<String> = category
                .countries
                .iter()
                .map(|c| reference.country_name(*c))
                .collect();
            let _ = writeln!(
                out,
                "  - {}{} · {}",
                category.category,
                if sectors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", sectors.join(", "))
                },
                countries.join(", ")
            );
        }
    }
    out
}

pub fn transfers_text(
    activity: &str,
    at: Option<Date>,
    on: Date,
    transfers: &[Transfer],
) -> String {
    let reference = ReferenceData::builtin();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Transfers outside the EEA in {activity} {}, judged on {on} (Arts 13(1)(f), 44-49)",
        as_of(at)
    );
    if transfers.is_empty() {
        let _ = writeln!(out, "(none)");
    }
    for transfer in transfers {
        let destination = match &transfer.destination {
            Destination::Country(code) => format!("{} ({code})", reference.country_name(*code)),
            Destination::InternationalOrganisation(key) => {
                format!("international organisation {key}")
            }
        };
        let recorded = transfer
            .mechanism
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok())
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        let mechanism = match (recorded, &transfer.onward) {
            (Some(recorded), _) => recorded,
            (None, Some(onward)) => {
                format!(
                    "onward, under {} of link {}",
                    onward.mechanism, onward.under
                )
            }
            (None, None) => "none".to_owned(),
        };
        let _ = writeln!(
            out,
            "\n{} · depth {} · {} ({}) → {} to {destination}",
            transfer.engagement,
            transfer.depth,
            transfer.exporter,
            transfer.exporter_country,
            transfer.importer
        );
        let path: Vec<&str> = transfer.path.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(out, "  path:      {}", path.join(" → "));
        let _ = writeln!(out, "  mechanism: {mechanism}");
        let verdict = if !transfer.assessment.valid {
            "NOT VALID"
        } else if transfer.assessment.exceptional {
            "valid only as an exception"
        } else {
            "valid"
        };
        let _ = writeln!(out, "  {verdict}: {}", transfer.assessment.reason);
        if let Some(basis) = &transfer.assessment.basis {
            let _ = writeln!(out, "  basis:     {basis}");
        }
    }
    out
}

pub fn upstream_text(organisation: &str, at: Option<Date>, found: &[Involvement]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Where {organisation} sits {}", as_of(at));
    if found.is_empty() {
        let _ = writeln!(out, "(it is a processor in no activity)");
    }
    for involvement in found {
        let mut controllers = vec![involvement.controller.as_str()];
        controllers.extend(involvement.joint_controllers.iter().map(|s| s.as_str()));
        let _ = writeln!(
            out,
            "\n{} · controller {}",
            involvement.activity,
            controllers.join(", ")
        );
        for path in &involvement.paths {
            let path: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, "  {} (depth {})", path.join(" → "), path.len() - 1);
        }
    }
    out
}

/// A terminal shows this many changes of a plan; JSON has them all.
const MAX_LISTED_CHANGES: usize = 1000;

pub fn plan_text(plan: &Plan, applied: bool) -> String {
    if plan.is_empty() {
        return "No changes: the database already holds this register.\n".to_owned();
    }
    let mut out = String::new();
    for change in plan.changes.iter().take(MAX_LISTED_CHANGES) {
        let _ = writeln!(out, "{change}");
    }
    if plan.changes.len() > MAX_LISTED_CHANGES {
        let _ = writeln!(
            out,
            "... and {} more (--format json lists every change)",
            plan.changes.len() - MAX_LISTED_CHANGES
        );
    }
    let summary = plan.summary();
    let _ = writeln!(
        out,
        "{}: {} added, {} changed, {} removed.",
        if applied { "Applied" } else { "Plan" },
        summary.added,
        summary.changed,
        summary.removed
    );
    out
}

pub fn verification_text(verification: &custos_app::audit::Verification) -> String {
    match verification {
        custos_app::audit::Verification::Intact(verified) => format!(
            "The audit log is intact: {} entries; head hash {}.\n",
            verified.entries, verified.head
        ),
        custos_app::audit::Verification::Broken(broken) => {
            format!("The audit log is BROKEN: {broken}.\n")
        }
    }
}
