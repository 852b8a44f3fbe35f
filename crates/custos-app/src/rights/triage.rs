//! Triage of the controller's requests: who on its staff handles each, and the staff's
//! internal notes (history entries of kind `note`, never shown to the subject).

use std::collections::HashMap;

use super::*;

/// The longest internal note.
pub const MAX_NOTE: usize = 4_000;

/// Every request's assignee (by e-mail), by request key.
pub async fn assignees(store: &Store) -> Result<HashMap<String, String>, AppError> {
    let mut tx = store.read().await?;
    let found = tx.assignees().await?;
    tx.rollback().await?;
    Ok(found)
}

/// Gives the request to a member of the controller's staff who may act on it (an editor or
/// an administrator of the controller), or to nobody; recorded in its history, audited.
pub async fn assign(
    store: &Store,
    key: &str,
    assignee: Option<&str>,
    actor: &Actor,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let request = load(&mut tx, key).await?;
    require_open(&request)?;
    let assignee = match assignee.map(|a| a.trim().to_lowercase()) {
        None => None,
        Some(email) if email.is_empty() => None,
        Some(email) => {
            let user = tx.user_by_email(&email).await?;
            let acts = match &user {
                Some(user) => {
                    let memberships = tx.memberships(&user.key).await?;
                    crate::policy::Caller {
                        admin: user.is_admin,
                        memberships,
                    }
                    .may(crate::policy::Capacity::Edit, &request.controller)
                }
                _ => false,
            };
            if !acts {
                return Err(AppError::Invalid(format!(
                    "assignee: {email} is not on {}'s staff: only its editors and administrators act on its requests",
                    request.controller
                )));
            }
            Some(email)
        }
    };
    let at = stamp(actor.at);
    tx.set_assignee(key, assignee.as_deref(), &at, &actor.name)
        .await?;
    tx.insert_subject_history(&history(key, "assigned", json!({"to": assignee}), actor))
        .await?;
    tx.append_audit(vec![audit(
        actor,
        "assign",
        &request,
        json!({"assignee": assignee}).to_string(),
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds an internal note to the request's history, audited (its length, not its words).
pub async fn note(store: &Store, key: &str, text: &str, actor: &Actor) -> Result<(), AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::Invalid("note: write something".to_owned()));
    }
    if text.chars().count() > MAX_NOTE {
        return Err(AppError::Invalid(format!(
            "note: at most {MAX_NOTE} characters"
        )));
    }
    let mut tx = store.begin().await?;
    let request = load(&mut tx, key).await?;
    tx.insert_subject_history(&history(key, "note", json!({"text": text}), actor))
        .await?;
    tx.append_audit(vec![audit(
        actor,
        "note",
        &request,
        json!({"characters": text.chars().count()}).to_string(),
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}
