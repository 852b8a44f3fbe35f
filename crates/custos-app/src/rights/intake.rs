//! Receiving a request (public intake, staff, API), verifying the address, extending the
//! deadline; reading requests.

use super::*;

/// Receives a request: keys the address, sends the one-time link, sets the deadline timers.
pub async fn receive(
    store: &Store,
    register: &Register,
    new: NewRequest,
    channel: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<Received, AppError> {
    let controller = register
        .organisation(new.controller.as_str())
        .ok_or_else(|| AppError::NotFound(format!("organisation {}", new.controller)))?;
    let email = ledger::normalise(&new.email)
        .ok()
        .filter(|e| e.contains('@'))
        .ok_or_else(|| {
            AppError::Invalid("email: expected an e-mail address (name@example.com)".to_owned())
        })?;
    if new.details.len() > MAX_DETAILS {
        return Err(AppError::Invalid(format!(
            "details: at most {MAX_DETAILS} bytes"
        )));
    }
    if let Some(url) = &new.transmit_to {
        if new.kind != RequestKind::Portability {
            return Err(AppError::Invalid(
                "transmit_to: an http(s) URL, for a portability request only".to_owned(),
            ));
        }
        settings.outbound.check_url("transmit_to", url)?;
    }
    let pepper = app_ledger::pepper(store, actor.at).await?;
    let subject_key = ledger::subject_key(&pepper, &email)
        .map_err(|e| AppError::Invalid(format!("email: {e}")))?;
    let now = actor.at;
    let hour_ago = now
        .checked_sub(SignedDuration::from_hours(1))
        .unwrap_or(now);
    let mut tx = store.begin().await?;
    if tx
        .requests_of_subject_since(&subject_key, &stamp(hour_ago))
        .await?
        >= settings.per_address_per_hour
    {
        tx.rollback().await?;
        tracing::warn!("a subject request was throttled (too many for one address this hour)");
        return Ok(Received::Throttled);
    }
    let today = day_of(now);
    let received = match new.received_on {
        Some(day) if day > today => {
            tx.rollback().await?;
            return Err(AppError::Invalid(format!(
                "received_on: {day} is in the future; the day the request arrived is {today} at the latest"
            )));
        }
        Some(day) => day,
        None => today,
    };
    let token = new_token()?;
    let request = StoredSubjectRequest {
        key: uuid::Uuid::now_v7().to_string(),
        controller: controller.id.to_string(),
        kind: new.kind,
        status: RequestStatus::Received,
        channel: channel.to_owned(),
        email: Some(email),
        subject_key,
        details: new.details.trim().to_owned(),
        language: language_of(register, controller.id.as_str())
            .as_str()
            .to_owned(),
        transmit_to: new.transmit_to,
        // Entered later than it arrived: the receipt is that day's start.
        received_at: if received == today {
            stamp(now)
        } else {
            stamp(
                received
                    .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .map_or(now, |z| z.timestamp()),
            )
        },
        deadline: rights::deadline(received).to_string(),
        extended_until: None,
        extension_reasons: None,
        verified_at: None,
        verification: None,
        token_hash: Some(token_hash(&token)),
        token_expires_at: Some(stamp(
            now.checked_add(settings.link_lifetime).unwrap_or(now),
        )),
        token_attempts: 0,
        closed_at: None,
        outcome: None,
        created_by: actor.name.clone(),
    };
    tx.put_subject_request(&request).await?;
    // The subject follows the request on a page of its own, opened by a second secret.
    let status_token = new_token()?;
    tx.insert_status_link(&request.key, &token_hash(&status_token))
        .await?;
    tx.insert_subject_history(&history(
        &request.key,
        "received",
        json!({"kind": request.kind.as_str(), "channel": channel, "deadline": request.deadline,
               "received_on": received.to_string()}),
        actor,
    ))
    .await?;
    let mut timers = deadline_timers(&request, rights::deadline(received), now, settings)?;
    timers.push(timer(
        "rights-unverified",
        &request.key,
        &request.controller,
        stamp(now.checked_add(settings.unverified_after).unwrap_or(now)),
    ));
    tx.insert_timers(&timers).await?;
    let data = base_data(register, &request);
    let mut events = vec![Event::hook(
        events::RECEIVED,
        &request.key,
        vec![request.controller.clone()],
        data.clone(),
    )];
    events.extend(to_subject(
        register,
        &request,
        TemplateKind::MailRightsVerify,
        with(
            data,
            json!({"path": format!("/public/requests/{}/verify?token={token}", request.key),
                   "status_path": format!("/public/requests/{}/status?token={status_token}", request.key)}),
        ),
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, now).await?;
    tx.append_audit(vec![audit(
        actor,
        "receive",
        &request,
        format!("{} request by {channel}", request.kind),
    )])
    .await?;
    tx.commit().await?;
    Ok(Received::Filed {
        view: Box::new(view(store, &request.key).await?),
        token,
    })
}

/// Where a request stands, as its subject may read it on the status page: no address, no
/// recipient, no note; the steps and the due date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectStatus {
    pub kind: RequestKind,
    pub controller: String,
    pub status: RequestStatus,
    pub received: String,
    pub due: String,
    pub extended: bool,
    pub verified: bool,
    /// Recipients told (Art. 19) and those that answered, for a rectification, erasure or
    /// restriction.
    pub told: usize,
    pub answered: usize,
    pub closed: Option<String>,
}

/// The request's status for whoever holds the secret of its status page; `None` for an
/// unknown request or a wrong secret alike (the page cannot tell them apart).
pub async fn status_for_subject(
    store: &Store,
    key: &str,
    token: &str,
) -> Result<Option<SubjectStatus>, AppError> {
    let mut tx = store.read().await?;
    let Some(stored) = tx.status_link_hash(key).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    // Hashes are compared, not secrets: timing says nothing of the secret itself.
    if stored != token_hash(token) {
        tx.rollback().await?;
        return Ok(None);
    }
    let request = load(&mut tx, key).await?;
    let notifications = tx.notifications_of(key).await?;
    tx.rollback().await?;
    Ok(Some(SubjectStatus {
        kind: request.kind,
        controller: request.controller.clone(),
        status: request.status,
        received: request.received_at.get(..10).unwrap_or_default().to_owned(),
        due: request
            .extended_until
            .clone()
            .unwrap_or_else(|| request.deadline.clone()),
        extended: request.extended_until.is_some(),
        verified: request.verified_at.is_some(),
        told: notifications.len(),
        answered: notifications
            .iter()
            .filter(|n| {
                matches!(
                    n.state,
                    NotificationState::Done
                        | NotificationState::Impossible
                        | NotificationState::Failed
                )
            })
            .count(),
        closed: request
            .closed_at
            .as_ref()
            .map(|c| c.get(..10).unwrap_or_default().to_owned()),
    }))
}

/// A request with its history and notifications.
pub async fn view(store: &Store, key: &str) -> Result<SubjectRequestView, AppError> {
    let mut tx = store.read().await?;
    let request = load(&mut tx, key).await?;
    Ok(SubjectRequestView {
        history: tx.subject_history(key).await?,
        notifications: tx.notifications_of(key).await?,
        request,
    })
}

/// The requests of `controllers` (every request when `None`), newest first.
pub async fn list(
    store: &Store,
    controllers: Option<&[String]>,
) -> Result<Vec<StoredSubjectRequest>, AppError> {
    Ok(store.read().await?.subject_requests(controllers).await?)
}

/// Checks a one-time link. The same `false` for an unknown request, a wrong, used or expired
/// token, or one tried too often: the caller's page cannot tell them apart.
pub async fn verify_link(
    store: &Store,
    register: &Register,
    key: &str,
    token: &str,
    now: Timestamp,
    settings: &Settings,
) -> Result<bool, AppError> {
    let mut tx = store.begin().await?;
    let Some(mut request) = tx.subject_request(key).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    let usable = request.status == RequestStatus::Received
        && request.token_attempts < settings.max_attempts
        && request
            .token_expires_at
            .as_deref()
            .and_then(parse_stamp)
            .is_some_and(|expires| now < expires);
    let matches = request.token_hash.as_deref() == Some(token_hash(token).as_str());
    if !(usable && matches) {
        if request.token_hash.is_some() {
            request.token_attempts += 1;
            tx.put_subject_request(&request).await?;
            tx.commit().await?;
        }
        return Ok(false);
    }
    let actor = Actor::new("subject:email-link", now);
    verified(
        &mut tx,
        register,
        &mut request,
        "email-link".to_owned(),
        &actor,
    )
    .await?;
    // The link is spent: its token leaves the outbox too.
    tx.erase_from_outbox(&request.key, token, "[used]").await?;
    tx.commit().await?;
    Ok(true)
}

async fn verified(
    tx: &mut Tx,
    register: &Register,
    request: &mut StoredSubjectRequest,
    method: String,
    actor: &Actor,
) -> Result<(), AppError> {
    request.status = RequestStatus::Verified;
    request.verified_at = Some(stamp(actor.at));
    request.verification = Some(method.clone());
    request.token_hash = None;
    request.token_expires_at = None;
    tx.put_subject_request(request).await?;
    tx.insert_subject_history(&history(
        &request.key,
        "verified",
        json!({"method": method}),
        actor,
    ))
    .await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(
        tx,
        vec![Event::hook(
            events::VERIFIED,
            &request.key,
            vec![request.controller.clone()],
            base_data(register, request),
        )],
        &subscriptions,
        actor.at,
    )
    .await?;
    tx.append_audit(vec![audit(actor, "verify", request, method)])
        .await?;
    Ok(())
}

/// Staff record a verification made another way (in person, a signed letter), with evidence.
pub async fn record_verification(
    store: &Store,
    register: &Register,
    key: &str,
    method: &str,
    evidence: &str,
    actor: &Actor,
) -> Result<SubjectRequestView, AppError> {
    if method.trim().is_empty() || evidence.trim().is_empty() {
        return Err(AppError::Invalid(
            "method and evidence: say how the identity was verified and on what evidence"
                .to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_open(&request)?;
    if request.verified_at.is_some() {
        return Err(AppError::Conflict(
            "the request is already verified".to_owned(),
        ));
    }
    let method = format!("{}: {}", method.trim(), evidence.trim());
    verified(&mut tx, register, &mut request, method, actor).await?;
    tx.commit().await?;
    view(store, key).await
}

/// Extends the deadline by two further months, within the first month, with reasons told to
/// the subject (Art. 12(3)).
pub async fn extend(
    store: &Store,
    register: &Register,
    key: &str,
    reasons: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<SubjectRequestView, AppError> {
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_open(&request)?;
    let received = parse_stamp(&request.received_at)
        .map(day_of)
        .ok_or_else(|| AppError::Invalid("stored receipt time".to_owned()))?;
    let extended = request
        .extended_until
        .as_deref()
        .map(parse_day)
        .transpose()?;
    let until = check_extension(received, day_of(actor.at), extended, reasons)
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    request.extended_until = Some(until.to_string());
    request.extension_reasons = Some(reasons.trim().to_owned());
    tx.put_subject_request(&request).await?;
    tx.cancel_timers(&request.key, &request.controller, &stamp(actor.at))
        .await?;
    tx.insert_timers(&deadline_timers(&request, until, actor.at, settings)?)
        .await?;
    tx.insert_subject_history(&history(
        &request.key,
        "extended",
        json!({"until": until.to_string(), "reasons": reasons.trim()}),
        actor,
    ))
    .await?;
    let data = with(
        base_data(register, &request),
        json!({"update": "extended", "extended_until": until.to_string(), "reasons": reasons.trim()}),
    );
    let mut events = vec![Event::hook(
        events::EXTENDED,
        &request.key,
        vec![request.controller.clone()],
        data.clone(),
    )];
    events.extend(to_subject(
        register,
        &request,
        TemplateKind::MailRightsUpdate,
        data,
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![audit(
        actor,
        "extend",
        &request,
        format!("until {until}"),
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}
