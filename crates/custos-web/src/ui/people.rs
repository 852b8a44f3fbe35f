//! The people of an instance in the browser: the accounts one manages (an organisation's
//! admins their organisation's people, instance administrators everyone), invitations,
//! roles per organisation, disabling, enabling and deleting with confirmation, and which
//! organisations require two-factor sign-in. Everyone else sees their own access. The same
//! use cases and rules as the API (`custos_app::accounts`).

use crate::i18n::Translate as _;
use crate::i18n::tr;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::accounts::{self, Account};
use custos_app::data::Role;
use serde::Deserialize;

use super::confirm::{Confirmation, ask, confirmed, correctable};
use super::{FormCaller, UiError, Viewer, check_csrf, page};
use crate::api::accounts::{InvitationBody, MembershipBody};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

const ROLES: [&str; 4] = ["portal", "viewer", "editor", "admin"];

struct OrganisationRow {
    id: String,
    name: String,
    requires_totp: bool,
}

struct PersonRow {
    key: String,
    email: String,
    is_admin: bool,
    access: String,
    totp: bool,
    state: &'static str,
}

/// What was typed into the invitation form, kept when it is refused.
#[derive(Default)]
struct InviteInput {
    open: bool,
    email: String,
    organisation: String,
    role: String,
}

#[derive(Deserialize, Default)]
pub struct PeopleFilter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    organisation: String,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    section: &'static str,
    user_email: String,
    csrf: String,
    is_admin: bool,
    /// The organisations the viewer administers (none: it sees its own access only).
    organisations: Vec<OrganisationRow>,
    own: Vec<(String, &'static str)>,
    people: Vec<PersonRow>,
    roles: [&'static str; 4],
    filter: PeopleFilter,
    invite: InviteInput,
    problem: Option<String>,
    message: Option<String>,
}

fn state_of(account: &Account) -> &'static str {
    if account.disabled_at.is_some() {
        "disabled"
    } else if account.invited {
        "invited"
    } else {
        "active"
    }
}

/// The organisations `principal` administers, by name.
async fn administered(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<OrganisationRow>, ApiError> {
    let register = state.register().await;
    let caller = principal.caller();
    let requiring = accounts::organisations_requiring_totp(&state.store).await?;
    let mut rows: Vec<OrganisationRow> = register
        .organisations()
        .iter()
        .filter(|o| custos_app::policy::administers(&caller, o.id.as_str()))
        .map(|o| OrganisationRow {
            id: o.id.as_str().to_owned(),
            name: o.name.clone(),
            requires_totp: requiring.iter().any(|r| r == o.id.as_str()),
        })
        .collect();
    rows.sort_by_key(|row| row.name.to_lowercase());
    Ok(rows)
}

async fn people_page(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    filter: PeopleFilter,
    invite: InviteInput,
    outcome: Result<Option<String>, ApiError>,
) -> Result<Response, UiError> {
    let caller = principal.caller();
    let organisations = if custos_app::policy::manages_people(&caller) {
        administered(state, principal).await?
    } else {
        Vec::new()
    };
    let people = if organisations.is_empty() {
        Vec::new()
    } else {
        let q = filter.q.trim().to_lowercase();
        accounts::list(&state.store, &caller)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .filter(|a| q.is_empty() || a.email.contains(&q))
            .filter(|a| {
                filter.organisation.is_empty()
                    || a.memberships
                        .iter()
                        .any(|m| m.organisation == filter.organisation)
            })
            .map(|a| PersonRow {
                state: state_of(&a),
                access: a
                    .memberships
                    .iter()
                    .map(|m| format!("{}: {}", m.organisation, m.role.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                key: a.key,
                email: a.email,
                is_admin: a.is_admin,
                totp: a.totp,
            })
            .collect()
    };
    let (problem, message) = match &outcome {
        Ok(message) => (None, message.clone()),
        Err(error) => (Some(super::sentence(error)), None),
    };
    let mut response = page(&PeoplePage {
        section: "people",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        is_admin: principal.user.is_admin,
        organisations,
        own: principal
            .memberships
            .iter()
            .map(|m| (m.organisation.clone(), m.role.as_str()))
            .collect(),
        people,
        roles: ROLES,
        filter,
        invite,
        problem,
        message,
    });
    if let Err(error) = &outcome {
        *response.status_mut() = error.status();
    }
    Ok(response)
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filter): Query<PeopleFilter>,
) -> Result<Response, UiError> {
    people_page(
        &state,
        &viewer.principal,
        &viewer.csrf,
        filter,
        InviteInput::default(),
        Ok(None),
    )
    .await
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    Role::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "role",
            format!("role: portal, viewer, editor or admin, not {raw:?}"),
        )
    })
}

#[derive(Deserialize)]
pub struct InviteForm {
    csrf: String,
    email: String,
    organisation: String,
    role: String,
    #[serde(default)]
    is_admin: String,
}

pub async fn invite(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<InviteForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let input = InviteInput {
        open: true,
        email: form.email.clone(),
        organisation: form.organisation.clone(),
        role: form.role.clone(),
    };
    let outcome = match parse_role(&form.role) {
        Ok(role) => {
            crate::api::accounts::invite_person(
                &state,
                &principal,
                InvitationBody {
                    email: form.email.clone(),
                    memberships: vec![MembershipBody {
                        organisation: form.organisation.clone(),
                        role: Some(role),
                    }],
                    is_admin: form.is_admin == "yes",
                },
            )
            .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(invited) => {
            let message = if invited.existed {
                tr("people-role-added", &[("email", &invited.account.email)])
            } else {
                tr(
                    "people-invitation-sent",
                    &[("email", &invited.account.email)],
                )
            };
            people_page(
                &state,
                &principal,
                &form.csrf,
                PeopleFilter::default(),
                InviteInput::default(),
                Ok(Some(message)),
            )
            .await
        }
        Err(error) if correctable(&error) => {
            people_page(
                &state,
                &principal,
                &form.csrf,
                PeopleFilter::default(),
                input,
                Err(error),
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct SecurityForm {
    csrf: String,
    organisation: String,
    require_totp: String,
}

pub async fn set_security(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<SecurityForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let required = form.require_totp == "yes";
    accounts::set_totp_required(
        &state.store,
        &principal.caller(),
        &principal.actor(state.clock.now()),
        &form.organisation,
        required,
    )
    .await
    .map_err(ApiError::from)?;
    state.access_changed().await;
    let message = if required {
        format!(
            "{} now requires two-factor sign-in: members without it set it up at their next page.",
            form.organisation
        )
    } else {
        format!(
            "{} no longer requires two-factor sign-in.",
            form.organisation
        )
    };
    people_page(
        &state,
        &principal,
        &form.csrf,
        PeopleFilter::default(),
        InviteInput::default(),
        Ok(Some(message)),
    )
    .await
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    person: Account,
    state: &'static str,
    created: String,
    roles: [&'static str; 4],
    /// Organisations the viewer administers where the person has no role yet.
    addable: Vec<(String, String)>,
    /// The viewer's own account: it cannot disable or delete it.
    own: bool,
    problem: Option<String>,
    message: Option<String>,
}

async fn person_page(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    key: &str,
    outcome: Result<Option<String>, ApiError>,
) -> Result<Response, UiError> {
    let person = accounts::get(&state.store, &principal.caller(), key)
        .await
        .map_err(ApiError::from)?;
    let addable = administered(state, principal)
        .await?
        .into_iter()
        .filter(|o| !person.memberships.iter().any(|m| m.organisation == o.id))
        .map(|o| (o.id, o.name))
        .collect();
    let (problem, message) = match &outcome {
        Ok(message) => (None, message.clone()),
        Err(error) => (Some(super::sentence(error)), None),
    };
    let mut response = page(&PersonPage {
        section: "people",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        state: state_of(&person),
        created: super::breaches::when(Some(&person.created_at)),
        own: person.key == principal.user.key,
        person,
        roles: ROLES,
        addable,
        problem,
        message,
    });
    if let Err(error) = &outcome {
        *response.status_mut() = error.status();
    }
    Ok(response)
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    person_page(&state, &viewer.principal, &viewer.csrf, &key, Ok(None)).await
}

#[derive(Deserialize)]
pub struct MembershipForm {
    csrf: String,
    organisation: String,
    role: String,
}

pub async fn set_membership(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<MembershipForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let role = match form.role.as_str() {
        "none" => None,
        raw => match parse_role(raw) {
            Ok(role) => Some(role),
            Err(error) => {
                return person_page(&state, &principal, &form.csrf, &key, Err(error)).await;
            }
        },
    };
    let outcome = crate::api::accounts::change_memberships(
        &state,
        &principal,
        &key,
        vec![MembershipBody {
            organisation: form.organisation.clone(),
            role,
        }],
    )
    .await;
    match outcome {
        Ok(_) => {
            let message = match role {
                Some(role) => tr(
                    "people-role-now",
                    &[
                        ("organisation", &form.organisation),
                        ("role", role.as_str()),
                    ],
                ),
                None => tr(
                    "people-member-no-longer",
                    &[("organisation", &form.organisation)],
                ),
            };
            // Removing the last membership one administers hides the account: back to the list.
            match person_page(&state, &principal, &form.csrf, &key, Ok(Some(message))).await {
                Err(_) => Ok(Redirect::to("/people").into_response()),
                shown => shown,
            }
        }
        Err(error) if correctable(&error) => {
            person_page(&state, &principal, &form.csrf, &key, Err(error)).await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// Disables, enables or deletes an account, after saying what it does.
pub async fn account_action(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, action)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let person = accounts::get(&state.store, &principal.caller(), &key)
        .await
        .map_err(ApiError::from)?;
    let (title, consequences, button) = match action.as_str() {
        "disable" => (
            tr("people-disable-title", &[("email", &person.email)]),
            vec![
                tr("people-disable-sessions-end", &[]),
                tr("people-disable-tokens-refused", &[]),
                tr("people-disable-roles-stay", &[]),
            ],
            tr("people-disable-button", &[]),
        ),
        "enable" => (
            tr("people-enable-title", &[("email", &person.email)]),
            vec![tr("people-enable-signs-in-again", &[])],
            tr("people-enable-button", &[]),
        ),
        "delete" => (
            tr("people-delete-title", &[("email", &person.email)]),
            vec![
                tr("people-delete-goes", &[]),
                tr("people-delete-audit-keeps", &[]),
                tr("people-delete-cannot-be-undone", &[]),
            ],
            tr("people-delete-button", &[]),
        ),
        other => {
            return Err(ApiError::not_found(format!("action {other:?}")).into());
        }
    };
    let step = Confirmation {
        title,
        consequences,
        action: format!("/people/{key}/{action}"),
        button,
        back: format!("/people/{key}"),
        hidden: Vec::new(),
        fields: Vec::new(),
    };
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "people", &step, None));
    }
    let outcome = match action.as_str() {
        "delete" => crate::api::accounts::delete_account(&state, &principal, &key)
            .await
            .map(|()| None),
        action => {
            crate::api::accounts::switch_account(&state, &principal, &key, action == "disable")
                .await
                .map(Some)
        }
    };
    match outcome {
        Ok(None) => Ok(Redirect::to("/people").into_response()),
        Ok(Some(account)) => {
            let message = format!("{} is {}.", account.email, state_of(&account));
            person_page(&state, &principal, &form.csrf, &key, Ok(Some(message))).await
        }
        Err(error @ ApiError::Forbidden(_)) => {
            Ok(ask(&principal, &form.csrf, "people", &step, Some(&error)))
        }
        Err(error) => Err(error.into()),
    }
}
