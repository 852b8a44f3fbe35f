//! Joint controllers (Art. 26) answer for an activity only once they accept being listed in
//! it: a controller cannot put another organisation's name to its processing. Until then the
//! listing is pending, and the activity is not in the listed organisation's notice, record,
//! access answers or view.

use custos_core::Date;
use custos_core::model::{Activity, JointAcceptance};
use custos_core::register::Register;
use serde::Serialize;

use crate::audit::Actor;
use crate::entries::{Authority, Entry, Expect, Write, write};
use crate::live::LiveRegister;
use crate::policy::Caller;
use crate::{AppError, Store};

/// An activity listing an organisation as joint controller, as the listed organisation sees
/// it before and after accepting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub activity: String,
    pub name: Option<String>,
    pub controller: String,
    pub organisation: String,
    pub accepted: bool,
    pub accepted_on: Option<String>,
    pub purposes: Vec<String>,
}

fn listing(activity: &Activity, organisation: &str) -> Listing {
    let acceptance = activity
        .joint_acceptances
        .iter()
        .find(|a| a.by.as_str() == organisation);
    Listing {
        activity: activity.id.to_string(),
        name: activity.name.clone(),
        controller: activity.controller.to_string(),
        organisation: organisation.to_owned(),
        accepted: acceptance.is_some(),
        accepted_on: acceptance.map(|a| a.date.to_string()),
        purposes: activity.purposes.clone(),
    }
}

/// The listings of the organisations the caller writes for (every listing, for an instance
/// administrator), pending ones first.
pub fn listings(register: &Register, caller: &Caller) -> Vec<Listing> {
    let mut found: Vec<Listing> = register
        .activities()
        .iter()
        .flat_map(|activity| {
            activity
                .joint_controllers
                .iter()
                .filter(|j| caller.admin || caller.writes_for(j.as_str()))
                .map(move |j| listing(activity, j.as_str()))
        })
        .collect();
    found.sort_by(|a, b| (a.accepted, &a.activity).cmp(&(b.accepted, &b.activity)));
    found
}

/// The listed organisation accepts its listing (`accept`) or withdraws its acceptance.
#[allow(clippy::too_many_arguments)]
pub async fn answer(
    store: &Store,
    live: &LiveRegister,
    activity: &str,
    organisation: &str,
    accept: bool,
    caller: &Caller,
    actor: &Actor,
    today: Date,
) -> Result<Listing, AppError> {
    let not_found =
        || AppError::NotFound(format!("{organisation}'s listing in activity {activity}"));
    let snapshot = live.snapshot().await;
    let stored = snapshot.activity(activity).ok_or_else(not_found)?.clone();
    let listed = stored
        .joint_controllers
        .iter()
        .any(|j| j.as_str() == organisation);
    if !listed || !(caller.admin || caller.member_of(organisation)) {
        return Err(not_found());
    }
    let already = stored
        .joint_acceptances
        .iter()
        .any(|a| a.by.as_str() == organisation);
    if already == accept {
        if !(caller.admin || caller.writes_for(organisation)) {
            return Err(AppError::Forbidden(format!(
                "only editors of {organisation} answer its listing"
            )));
        }
        return Ok(listing(&stored, organisation));
    }
    drop(snapshot);
    let mut changed = stored.clone();
    changed
        .joint_acceptances
        .retain(|a| a.by.as_str() != organisation);
    if accept {
        changed.joint_acceptances.push(JointAcceptance {
            by: organisation
                .parse()
                .map_err(|e| AppError::Invalid(format!("organisation: {e}")))?,
            date: today,
        });
    }
    let everything = |_: &Register, _: &Entry| true;
    let written = write(
        store,
        live,
        Write::Put(Box::new(Entry::Activity(changed))),
        Expect::Tag(Entry::Activity(stored.clone()).tag()),
        actor,
        None,
        &Authority {
            caller,
            visible: &everything,
        },
    )
    .await?;
    match written.after {
        Some(Entry::Activity(after)) => Ok(listing(&after, organisation)),
        _ => Err(not_found()),
    }
}
