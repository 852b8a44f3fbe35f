//! Webhook endpoints: organisations subscribe to the events of the workflow, of subject
//! requests and of contract amendments; deliveries are the outbox's (`outbox.rs`).

use custos_store::{DeliveryRecord, Subscription};
use serde_json::json;

use crate::audit::Actor;
use crate::clock::stamp;
use crate::outbox;
use crate::{AppError, Store};

/// Every event type an endpoint may subscribe to.
pub fn event_types() -> Vec<&'static str> {
    crate::changes::events::ALL
        .into_iter()
        .chain(crate::rights::events::ALL)
        .chain(crate::contracts::events::ALL)
        .chain(crate::breaches::events::ALL)
        .collect()
}

/// Adds a webhook endpoint for an organisation; returns it with its secret (shown once).
pub async fn subscribe(
    store: &Store,
    organisation: &str,
    url: &str,
    event_types: Vec<String>,
    outbound: crate::outbound::Outbound,
    actor: &Actor,
) -> Result<Subscription, AppError> {
    outbound.check_url("url", url)?;
    let known = self::event_types();
    for kind in &event_types {
        if !known.contains(&kind.as_str()) {
            return Err(AppError::Invalid(format!(
                "event_types: {kind:?} is not an event type; expected one of {}",
                known.join(", ")
            )));
        }
    }
    let subscription = Subscription {
        key: uuid::Uuid::now_v7().to_string(),
        organisation: organisation.to_owned(),
        url: url.to_owned(),
        secret: outbox::new_secret()?,
        event_types,
        enabled: true,
        disabled_reason: None,
        created_at: stamp(actor.at),
        created_by: actor.name.clone(),
    };
    let mut tx = store.begin().await?;
    tx.insert_subscription(&subscription).await?;
    tx.append_audit(vec![actor.entry(
        "create",
        "webhook_subscription",
        &subscription.key,
        organisation.to_owned(),
        None,
        Some(json!({"url": url, "event_types": subscription.event_types}).to_string()),
    )])
    .await?;
    tx.commit().await?;
    Ok(subscription)
}

/// Turns an endpoint on again (its held and failed deliveries are due at once) or off.
pub async fn set_subscription_enabled(
    store: &Store,
    key: &str,
    enabled: bool,
    actor: &Actor,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let subscription = tx
        .subscription(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("webhook subscription {key}")))?;
    let reason = (!enabled).then(|| format!("disabled by {}", actor.name));
    tx.set_subscription_enabled(key, enabled, reason.as_deref(), &stamp(actor.at))
        .await?;
    tx.append_audit(vec![actor.entry(
        if enabled { "enable" } else { "disable" },
        "webhook_subscription",
        key,
        subscription.organisation,
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends a failed delivery of an endpoint again (the endpoint's owner asks), audited.
pub async fn replay(
    store: &Store,
    subscription: &str,
    delivery: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let owner = tx
        .subscription(subscription)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("webhook subscription {subscription}")))?
        .organisation;
    if !tx
        .replay_delivery(subscription, delivery, &stamp(actor.at))
        .await?
    {
        return Err(AppError::Conflict(format!(
            "delivery {delivery} of this endpoint has not failed: only a failed delivery is sent again"
        )));
    }
    tx.append_audit(vec![actor.entry(
        "replay",
        "webhook_delivery",
        delivery,
        owner,
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every webhook endpoint of the instance.
pub async fn webhooks(store: &Store) -> Result<Vec<Subscription>, AppError> {
    let mut tx = store.read().await?;
    let all = tx.subscriptions(None).await?;
    tx.rollback().await?;
    Ok(all)
}

/// One webhook endpoint by its key.
pub async fn webhook(store: &Store, key: &str) -> Result<Option<Subscription>, AppError> {
    let mut tx = store.read().await?;
    let found = tx.subscription(key).await?;
    tx.rollback().await?;
    Ok(found)
}

/// The latest deliveries to a webhook endpoint (or an address), newest first.
pub async fn deliveries(
    store: &Store,
    target: &str,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, AppError> {
    let mut tx = store.read().await?;
    let log = tx.deliveries_to(target, limit).await?;
    tx.rollback().await?;
    Ok(log)
}
