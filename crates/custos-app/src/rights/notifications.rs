//! Art. 19: every recipient told of a rectification, erasure or restriction, each by the
//! processor that engaged it, with acknowledgements and reminders.

use super::*;

/// Tells every recipient of the subject's data (Art. 19): the controller those it disclosed
/// to, each processor (when it acknowledges) those it engaged.
pub async fn notify_recipients(
    store: &Store,
    register: &Register,
    key: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<SubjectRequestView, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    require_verified(&request)?;
    if !request.kind.propagates() {
        return Err(AppError::Conflict(format!(
            "a {} request is not communicated to recipients (Art. 19 covers rectification, erasure and restriction)",
            request.kind
        )));
    }
    let answer = answer_of(store, register, &request, day_of(actor.at)).await?;
    let planned = rights::notification_tree(&answer);
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    if request.status != RequestStatus::Verified {
        return Err(AppError::Conflict(format!(
            "the request is {}: recipients are told once",
            request.status.as_str()
        )));
    }
    let at = stamp(actor.at);
    let rows: Vec<NotificationRow> = planned
        .iter()
        .map(|p| NotificationRow {
            key: uuid::Uuid::now_v7().to_string(),
            request_key: request.key.clone(),
            recipient: p.recipient.to_string(),
            relayed_by: p.relayed_by.as_ref().map(ToString::to_string),
            state: if p.relayed_by.is_none() {
                NotificationState::Sent
            } else {
                NotificationState::Pending
            },
            sent_at: p.relayed_by.is_none().then(|| at.clone()),
            note: None,
            updated_at: at.clone(),
            updated_by: actor.name.clone(),
        })
        .collect();
    tx.put_notifications(&rows).await?;
    let categories = categories_of(&answer);
    let mut events = Vec::new();
    let mut timers = Vec::new();
    for row in rows.iter().filter(|r| r.state == NotificationState::Sent) {
        events.push(notification_event(
            register,
            &request,
            row,
            &categories,
            false,
        ));
        timers.push(silent_timer(&request, row, actor.at, settings));
    }
    tx.insert_timers(&timers).await?;
    // With no recipient in the ledger there is no one to tell: the request may close.
    request.status = RequestStatus::Notifying;
    tx.put_subject_request(&request).await?;
    tx.insert_subject_history(&history(
        &request.key,
        "notified",
        json!({"recipients": rows.iter().map(|r| json!({"recipient": r.recipient, "relayed_by": r.relayed_by})).collect::<Vec<_>>()}),
        actor,
    ))
    .await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![audit(
        actor,
        "notify",
        &request,
        format!("{} recipient(s)", rows.len()),
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}

fn categories_of(answer: &AccessAnswer) -> BTreeMap<String, Vec<String>> {
    answer
        .recipients
        .iter()
        .map(|r| {
            (
                r.id.to_string(),
                r.categories.iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

pub(super) fn silent_timer(
    request: &StoredSubjectRequest,
    row: &NotificationRow,
    now: Timestamp,
    settings: &Settings,
) -> Timer {
    timer(
        "rights-silent",
        &request.key,
        &row.key,
        stamp(now.checked_add(settings.silent_after).unwrap_or(now)),
    )
}

/// The notification to one recipient: webhook to its endpoints, e-mail to its DPO or contact.
/// It names the subject (the recipient must find the data), so it is erased with the address.
pub(super) fn notification_event(
    register: &Register,
    request: &StoredSubjectRequest,
    row: &NotificationRow,
    categories: &BTreeMap<String, Vec<String>>,
    reminder: bool,
) -> Event {
    let name = |id: &str| {
        register
            .organisation(id)
            .map_or(id, |o| o.name.as_str())
            .to_owned()
    };
    let data = with(
        base_data(register, request),
        json!({
            "notification": row.key,
            "reminder": reminder,
            "recipient": {"id": row.recipient, "name": name(&row.recipient)},
            "relayed_by": row.relayed_by.as_ref().map(|r| json!({"id": r, "name": name(r)})),
            "identifier": request.email,
            "details": request.details,
            "categories": categories.get(&row.recipient).cloned().unwrap_or_default(),
            "path": format!("/api/v1/rights-notifications/{}", row.key),
            "template_owner": row.relayed_by.as_deref().unwrap_or(&request.controller),
        }),
    );
    Event {
        kind: if reminder {
            events::NOTIFICATION_REMINDER
        } else {
            events::NOTIFICATION
        },
        subject: request.key.clone(),
        scope: vec![row.recipient.clone()],
        mail: mailbox(register, &row.recipient).into_iter().collect(),
        mail_template: Some(TemplateKind::MailRightsNotify),
        data,
    }
}

/// What a recipient (or the controller) says of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationChange {
    Acknowledge,
    Done { evidence: String },
    Failed { reason: String },
    Impossible { reason: String },
}

impl NotificationChange {
    fn state(&self) -> NotificationState {
        match self {
            Self::Acknowledge => NotificationState::Acknowledged,
            Self::Done { .. } => NotificationState::Done,
            Self::Failed { .. } => NotificationState::Failed,
            Self::Impossible { .. } => NotificationState::Impossible,
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            Self::Acknowledge => None,
            Self::Done { evidence } => Some(evidence),
            Self::Failed { reason } | Self::Impossible { reason } => Some(reason),
        }
    }
}

/// A notification with the request it belongs to.
pub async fn notification(
    store: &Store,
    key: &str,
) -> Result<(NotificationRow, StoredSubjectRequest), AppError> {
    let mut tx = store.read().await?;
    let row = tx
        .notification(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("notification {key}")))?;
    let request = load(&mut tx, &row.request_key).await?;
    Ok((row, request))
}

/// Records an acknowledgement, completion (with evidence), failure or impossibility (with the
/// reason). A recipient that acknowledges or completes relays the notification to the
/// processors it engaged.
pub async fn update_notification(
    store: &Store,
    register: &Register,
    key: &str,
    change: NotificationChange,
    actor: &Actor,
    settings: &Settings,
) -> Result<NotificationRow, AppError> {
    if change.note().is_some_and(|n| n.trim().is_empty()) {
        return Err(AppError::Invalid(
            "evidence or reason: say what was done, or why it could not be".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut row = tx
        .notification(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("notification {key}")))?;
    let request = load(&mut tx, &row.request_key).await?;
    require_open(&request)?;
    let next = change.state();
    if !row.state.may_become(next) {
        return Err(AppError::Conflict(format!(
            "the notification is {}: it cannot become {}",
            row.state.as_str(),
            next.as_str()
        )));
    }
    let at = stamp(actor.at);
    row.state = next;
    row.note = change.note().map(|n| n.trim().to_owned());
    row.updated_at = at.clone();
    row.updated_by = actor.name.clone();
    let mut changed = vec![row.clone()];
    let mut events = Vec::new();
    let mut timers = Vec::new();
    if matches!(
        next,
        NotificationState::Acknowledged | NotificationState::Done
    ) {
        let to_relay: Vec<NotificationRow> = tx
            .notifications_of(&request.key)
            .await?
            .into_iter()
            .filter(|child| {
                child.relayed_by.as_deref() == Some(row.recipient.as_str())
                    && child.state == NotificationState::Pending
            })
            .collect();
        // The categories each received come from the ledger: read only when someone is told.
        let categories = if to_relay.is_empty() {
            BTreeMap::new()
        } else {
            categories_of(&answer_of(store, register, &request, day_of(actor.at)).await?)
        };
        for mut child in to_relay {
            child.state = NotificationState::Sent;
            child.sent_at = Some(at.clone());
            child.updated_at = at.clone();
            child.updated_by = actor.name.clone();
            events.push(notification_event(
                register,
                &request,
                &child,
                &categories,
                false,
            ));
            timers.push(silent_timer(&request, &child, actor.at, settings));
            changed.push(child);
        }
    }
    tx.put_notifications(&changed).await?;
    tx.insert_timers(&timers).await?;
    if next.settled() {
        tx.cancel_timers(&request.key, &row.key, &at).await?;
    }
    tx.insert_subject_history(&history(
        &request.key,
        &format!("notification-{}", next.as_str()),
        json!({"recipient": row.recipient, "note": row.note, "relayed_to": changed.iter().skip(1).map(|c| c.recipient.clone()).collect::<Vec<_>>()}),
        actor,
    ))
    .await?;
    events.push(Event::hook(
        events::NOTIFICATION_UPDATED,
        &request.key,
        vec![request.controller.clone()],
        with(
            base_data(register, &request),
            json!({"notification": row.key, "recipient": row.recipient, "state": next.as_str()}),
        ),
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        next.as_str(),
        "rights-notification",
        &row.key,
        format!("{} {}", request.controller, row.recipient),
        None,
        row.note.clone(),
    )])
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The notifications addressed to `organisation`, and those it relays to the processors it
/// engaged, newest first.
pub async fn notifications_to(
    store: &Store,
    organisation: &str,
) -> Result<Vec<NotificationRow>, AppError> {
    let mut tx = store.read().await?;
    let mut rows = tx.notifications_to(organisation).await?;
    rows.extend(tx.notifications_relayed_by(organisation).await?);
    rows.sort_by(|a, b| b.key.cmp(&a.key));
    Ok(rows)
}
