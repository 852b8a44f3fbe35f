//! The timers' loop: every due timer fires once, in the transaction of its effect, handed to
//! the use case it belongs to (the workflow's windows and reminders, subject requests'
//! deadlines and erasures).

use crate::audit::Actor;
use crate::clock::stamp;
use crate::live::LiveRegister;
use crate::outbox;
use crate::{AppError, Clock, Store};

/// Fires the timers due now, at most `limit` of them; returns how many fired. The register is
/// taken only when one is due: a worker that held it while looking, every second, made a write
/// landing meanwhile copy the whole register instead of changing it in place.
pub async fn fire_due_timers(
    store: &Store,
    live: &LiveRegister,
    clock: &dyn Clock,
    limit: u32,
) -> Result<usize, AppError> {
    let now = clock.now();
    let at = stamp(now);
    let mut tx = store.begin().await?;
    let due = tx.due_timers(&at, limit).await?;
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let snapshot = live.snapshot().await;
    let register = snapshot.register();
    let actor = Actor::new("custos:timer", now);
    let subscriptions = tx.subscriptions(None).await?;
    let mut events = Vec::new();
    let rights_settings = crate::rights::Settings::default();
    let mut flush_log = false;
    for timer in &due {
        tx.mark_timer_fired(&timer.key, &at).await?;
        if timer.kind.starts_with("breach-") {
            flush_log |= crate::breaches::fire_timer(&mut tx, register, timer, &mut events).await?;
        } else if timer.kind.starts_with("rights-") {
            flush_log |= crate::rights::fire_timer(
                &mut tx,
                register,
                timer,
                now,
                &mut events,
                &rights_settings,
            )
            .await?;
        } else {
            crate::changes::fire_timer(&mut tx, register, timer, &actor, &mut events).await?;
        }
    }
    outbox::write(&mut tx, events, &subscriptions, now).await?;
    tx.commit().await?;
    if flush_log {
        store.flush_log().await?;
    }
    Ok(due.len())
}
