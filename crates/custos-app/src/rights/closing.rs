//! Closing or refusing a request, and erasing the subject's address once the last e-mail
//! to it is sent; the timers of requests.

use super::*;

/// Closes a fulfilled request: an access request with its answer sent to the subject, a
/// propagated one once every recipient is done or recorded as impossible. The address is
/// erased once the last e-mail to the subject has gone.
pub async fn close(
    store: &Store,
    register: &Register,
    key: &str,
    note: &str,
    actor: &Actor,
) -> Result<SubjectRequestView, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    require_verified(&request)?;
    // The answer goes to the subject of an access request only.
    let answer = if request.kind == RequestKind::Access {
        Some(answer_of(store, register, &request, day_of(actor.at)).await?)
    } else {
        None
    };
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_verified(&request)?;
    let notifications = tx.notifications_of(key).await?;
    let open: Vec<&str> = notifications
        .iter()
        .filter(|n| !n.state.settled())
        .map(|n| n.recipient.as_str())
        .collect();
    if !open.is_empty() {
        return Err(AppError::Conflict(format!(
            "not every recipient is done or recorded as impossible: {}",
            open.join(", ")
        )));
    }
    if request.kind.propagates() && request.status == RequestStatus::Verified {
        return Err(AppError::Conflict(
            "tell the recipients first (Art. 19): POST .../notify".to_owned(),
        ));
    }
    let name = |id: &str| {
        register
            .organisation(id)
            .map_or(id, |o| o.name.as_str())
            .to_owned()
    };
    let mut data = with(
        base_data(register, &request),
        json!({"reasons": note.trim(), "notified": notifications.iter().map(|n| json!({"name": name(&n.recipient), "state": n.state.as_str()})).collect::<Vec<_>>()}),
    );
    if let Some(answer) = answer {
        data = with(
            data,
            json!({
                "update": "answered",
                "recipients": answer.recipients.iter().map(|r| json!({
                    "name": r.name, "country": r.country, "categories": r.categories,
                    "first": r.first.to_string().get(..10), "last": r.last.to_string().get(..10),
                    "through": r.through.as_ref().map(|t| name(t.as_str())),
                })).collect::<Vec<_>>(),
                "transfers": answer.transfers.iter().map(|t| json!({
                    "importer": name(t.importer.as_str()), "destination": t.destination,
                    "mechanism": t.mechanism, "basis": t.basis,
                })).collect::<Vec<_>>(),
            }),
        );
    } else {
        data["update"] = "closed".into();
    }
    finish(
        &mut tx,
        register,
        &mut request,
        RequestStatus::Closed,
        note,
        data,
        actor,
    )
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// Refuses an open request (manifestly unfounded or excessive, Art. 12(5)), with reasons told
/// to the subject with the right to complain (Art. 12(4)).
pub async fn refuse(
    store: &Store,
    register: &Register,
    key: &str,
    reasons: &str,
    actor: &Actor,
) -> Result<SubjectRequestView, AppError> {
    if reasons.trim().is_empty() {
        return Err(AppError::Invalid(
            "reasons: a refusal gives the subject its reasons (Art. 12(4))".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_open(&request)?;
    let data = with(
        base_data(register, &request),
        json!({"update": "refused", "reasons": reasons.trim()}),
    );
    finish(
        &mut tx,
        register,
        &mut request,
        RequestStatus::Refused,
        reasons,
        data,
        actor,
    )
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// Ends a request: the last e-mail to the subject, timers cancelled, and the erasure of the
/// address scheduled for when that e-mail has gone.
async fn finish(
    tx: &mut Tx,
    register: &Register,
    request: &mut StoredSubjectRequest,
    status: RequestStatus,
    note: &str,
    data: serde_json::Value,
    actor: &Actor,
) -> Result<(), AppError> {
    let at = stamp(actor.at);
    request.status = status;
    request.closed_at = Some(at.clone());
    request.outcome = Some(note.trim().to_owned());
    request.token_hash = None;
    request.token_expires_at = None;
    tx.put_subject_request(request).await?;
    tx.cancel_timers(&request.key, &request.controller, &at)
        .await?;
    for n in tx.notifications_of(&request.key).await? {
        tx.cancel_timers(&request.key, &n.key, &at).await?;
    }
    tx.insert_timers(&[timer("rights-erase", &request.key, "subject", at.clone())])
        .await?;
    tx.insert_subject_history(&history(
        &request.key,
        status.as_str(),
        json!({"note": note.trim()}),
        actor,
    ))
    .await?;
    let kind = if status == RequestStatus::Refused {
        events::REFUSED
    } else {
        events::CLOSED
    };
    let mut events = vec![Event::hook(
        kind,
        &request.key,
        vec![request.controller.clone()],
        base_data(register, request),
    )];
    events.extend(to_subject(
        register,
        request,
        TemplateKind::MailRightsUpdate,
        data,
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![audit(
        actor,
        status.as_str(),
        request,
        note.trim().to_owned(),
    )])
    .await?;
    Ok(())
}

/// Erases the address of a closed request: from the request (its keyed hash stays), its
/// details, and everything the outbox keeps about it. Waits (returns `false`) while e-mails
/// to the subject are still being sent, up to `erase_within` after closing.
async fn erase(
    tx: &mut Tx,
    request: &mut StoredSubjectRequest,
    now: Timestamp,
    settings: &Settings,
) -> Result<bool, AppError> {
    let Some(email) = request.email.clone() else {
        return Ok(true);
    };
    let closed = request
        .closed_at
        .as_deref()
        .and_then(parse_stamp)
        .unwrap_or(now);
    let waited_enough = closed
        .checked_add(settings.erase_within)
        .is_ok_and(|limit| now >= limit);
    if tx.pending_deliveries_of(&request.key).await? > 0 && !waited_enough {
        return Ok(false);
    }
    for secret in [email.as_str(), request.details.as_str()] {
        if secret.is_empty() {
            continue;
        }
        tx.erase_from_outbox(&request.key, secret, "[erased]")
            .await?;
        // Payloads are JSON: a text with a quote, a backslash or a line break is stored
        // escaped there, and must go in that form too.
        let escaped =
            serde_json::to_string(secret).map_err(|e| AppError::Invalid(e.to_string()))?;
        let escaped = &escaped[1..escaped.len() - 1];
        if escaped != secret {
            tx.erase_from_outbox(&request.key, escaped, "[erased]")
                .await?;
        }
    }
    request.email = None;
    request.details = String::new();
    tx.put_subject_request(request).await?;
    tx.append_audit(vec![Actor::new("custos:timer", now).entry(
        "erase_address",
        "subject_request",
        &request.key,
        request.controller.clone(),
        None,
        None,
    )])
    .await?;
    Ok(true)
}

/// Fires one of the request timers (called by the shared timer loop in its transaction):
/// deadline reminders, silent recipients, unverified requests refused, addresses erased.
/// Returns whether the SQLite log should be flushed after commit (an address was erased).
pub(crate) async fn fire_timer(
    tx: &mut Tx,
    register: &Register,
    due: &Timer,
    now: Timestamp,
    events: &mut Vec<Event>,
    settings: &Settings,
) -> Result<bool, AppError> {
    let Some(mut request) = tx.subject_request(&due.subject).await? else {
        return Ok(false);
    };
    let actor = Actor::new("custos:timer", now);
    match due.kind.as_str() {
        "rights-due-soon" | "rights-overdue" if request.status.open() => {
            let overdue = due.kind == "rights-overdue";
            events.push(Event {
                kind: events::DUE,
                subject: request.key.clone(),
                scope: vec![request.controller.clone()],
                mail: mailbox(register, &request.controller).into_iter().collect(),
                mail_template: Some(TemplateKind::MailRightsDue),
                data: with(base_data(register, &request), json!({"overdue": overdue})),
            });
            if overdue {
                tx.insert_subject_history(&history(&request.key, "overdue", json!({}), &actor))
                    .await?;
            }
        }
        "rights-unverified" if request.status == RequestStatus::Received => {
            let reasons = "We asked you to confirm that the e-mail address of the request is yours, by opening the link we sent to it, and received no confirmation. Without it we cannot identify you as the person the data relate to, so we cannot act on the request (GDPR Arts 11(2) and 12(2)). You may send a new request at any time, or confirm your identity to us in another way. You also have the right to lodge a complaint with a supervisory authority (Art. 77).";
            let data = with(
                base_data(register, &request),
                json!({"update": "refused", "reasons": reasons}),
            );
            finish(
                tx,
                register,
                &mut request,
                RequestStatus::Refused,
                reasons,
                data,
                &actor,
            )
            .await?;
        }
        "rights-silent" => {
            if let Some(row) = tx.notification(&due.party).await?
                && row.state == NotificationState::Sent
                && request.status.open()
            {
                events.push(notification_event(
                    register,
                    &request,
                    &row,
                    &BTreeMap::new(),
                    true,
                ));
                tx.insert_timers(&[silent_timer(&request, &row, now, settings)])
                    .await?;
            }
        }
        "rights-erase" => {
            if erase(tx, &mut request, now, settings).await? {
                return Ok(true);
            }
            let later = now
                .checked_add(SignedDuration::from_mins(10))
                .unwrap_or(now);
            tx.insert_timers(&[timer("rights-erase", &request.key, "subject", stamp(later))])
                .await?;
        }
        _ => {}
    }
    Ok(false)
}
