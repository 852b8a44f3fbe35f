//! The access answer (Art. 15): the specific recipients of the subject's data, and every
//! processor below them that has held or will hold it.

use super::*;

/// The recipients of the subject's data from the ledger, as of `today`.
pub(super) async fn answer_of(
    store: &Store,
    register: &Register,
    request: &StoredSubjectRequest,
    today: Date,
) -> Result<AccessAnswer, AppError> {
    let disclosures = store
        .read()
        .await?
        .disclosures_of(&request.subject_key)
        .await?;
    let mine: Vec<_> = disclosures
        .into_iter()
        .filter(|d| {
            register.activity(d.activity.as_str()).is_some_and(|a| {
                a.accepted_controllers()
                    .any(|c| c.as_str() == request.controller)
            })
        })
        .collect();
    ledger::access_answer(register, &mine, today).map_err(|e| AppError::Invalid(e.to_string()))
}

/// The access report of a verified request (Art. 15): its recipients, transfers, processing.
pub async fn access_report(
    store: &Store,
    register: &Register,
    key: &str,
    now: Timestamp,
) -> Result<AccessReport, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    if request.verified_at.is_none() {
        return Err(AppError::Conflict(
            "the subject's identity is not verified: no answer is given before".to_owned(),
        ));
    }
    let answer = answer_of(store, register, &request, day_of(now)).await?;
    let mut report = rights::access_report(
        register,
        &request.controller,
        answer,
        &request.key,
        day_of(now),
    )
    .map_err(|e| AppError::Invalid(e.to_string()))?;
    // Art. 15(3): where the controller's systems are connected, the copy is their export.
    report.copy_from = super::portability::data_sources(store, &request.controller)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    Ok(report)
}
