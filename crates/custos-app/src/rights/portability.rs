//! Portability (Art. 20): the controller's data sources asked, their answers packed, sent to
//! the subject or to another controller.

use super::*;

/// Adds a connected system that returns a subject's data for portability exports; returns it
/// with its signing secret (shown once).
pub async fn add_data_source(
    store: &Store,
    organisation: &str,
    name: &str,
    url: &str,
    outbound: Outbound,
    actor: &Actor,
) -> Result<DataSource, AppError> {
    let name: Slug = name
        .parse()
        .map_err(|e| AppError::Invalid(format!("name: {e}")))?;
    outbound.check_url("url", url)?;
    let source = DataSource {
        key: uuid::Uuid::now_v7().to_string(),
        organisation: organisation.to_owned(),
        name: name.to_string(),
        url: url.to_owned(),
        secret: outbox::new_secret()?,
        created_at: stamp(actor.at),
        created_by: actor.name.clone(),
    };
    let mut tx = store.begin().await?;
    if tx
        .data_sources(organisation)
        .await?
        .iter()
        .any(|s| s.name == source.name)
    {
        return Err(AppError::Conflict(format!(
            "{organisation} already has a data source named {name}"
        )));
    }
    tx.insert_data_source(&source).await?;
    tx.append_audit(vec![actor.entry(
        "create",
        "data-source",
        &source.key,
        organisation.to_owned(),
        None,
        Some(format!("{} {}", source.name, source.url)),
    )])
    .await?;
    tx.commit().await?;
    Ok(source)
}

pub async fn data_sources(store: &Store, organisation: &str) -> Result<Vec<DataSource>, AppError> {
    Ok(store.read().await?.data_sources(organisation).await?)
}

/// Largest answer accepted from one data source.
const MAX_SOURCE_BYTES: usize = 64 * 1024 * 1024;

/// Asks each of the controller's data sources for the subject's data (a signed POST, see
/// docs/rights.md) and packs the answers into the export ZIP. A source that fails stops the
/// export, named: a partial export would look complete.
pub async fn export(
    store: &Store,
    key: &str,
    outbound: Outbound,
    now: Timestamp,
) -> Result<(Vec<u8>, ExportManifest), AppError> {
    let mut tx = store.read().await?;
    let request = load(&mut tx, key).await?;
    require_verified(&request)?;
    if !matches!(request.kind, RequestKind::Portability | RequestKind::Access) {
        return Err(AppError::Conflict(format!(
            "a {} request has no data export",
            request.kind
        )));
    }
    let email = request
        .email
        .clone()
        .ok_or_else(|| AppError::Conflict("the request is closed".to_owned()))?;
    let sources = tx.data_sources(&request.controller).await?;
    drop(tx);
    if sources.is_empty() {
        return Err(AppError::Conflict(format!(
            "{} has no data source: add one (POST /api/v1/organisations/{}/data-sources)",
            request.controller, request.controller
        )));
    }
    let client = outbound.client(std::time::Duration::from_secs(30), "Custos-Portability/1")?;
    let body = serde_json::to_vec(&json!({
        "type": "subject.export",
        "request": request.key,
        "kind": request.kind.as_str(),
        "subject": {"email": email},
    }))
    .map_err(|e| AppError::Invalid(e.to_string()))?;
    let mut collected = Vec::with_capacity(sources.len());
    for source in &sources {
        let failed = |why: String| {
            AppError::Conflict(format!(
                "data source {} ({}): {why}",
                source.name, source.url
            ))
        };
        let id = uuid::Uuid::now_v7().to_string();
        let signature = outbox::sign(&source.secret, &id, now.as_second(), &body)?;
        let url = outbound.check_url("url", &source.url)?;
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", now.as_second().to_string())
            .header("webhook-signature", signature)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let bytes = crate::outbound::read_capped(response, MAX_SOURCE_BYTES)
            .await
            .map_err(failed)?;
        #[derive(serde::Deserialize)]
        struct Answer {
            datasets: BTreeMap<String, Vec<serde_json::Value>>,
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| {
            failed(format!(
                "expected {{\"datasets\": {{\"NAME\": [records]}}}}: {e}"
            ))
        })?;
        collected.push(SourceData {
            source: source.name.clone(),
            datasets: answer.datasets,
        });
    }
    custos_render::rights::portability_zip(
        &request.controller,
        &request.key,
        &stamp(now),
        &collected,
    )
    .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Records that an export was produced (and, when `transmitted`, sent to the other
/// controller's endpoint) in the request's history and the audit log.
async fn record_export(
    store: &Store,
    key: &str,
    manifest: &ExportManifest,
    transmitted: Option<(&str, u16)>,
    actor: &Actor,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let request = load(&mut tx, key).await?;
    let body = json!({
        "files": manifest.files.len(),
        "transmitted_to": transmitted.map(|(url, _)| url),
        "status": transmitted.map(|(_, status)| status),
    });
    tx.insert_subject_history(&history(
        key,
        if transmitted.is_some() {
            "transmitted"
        } else {
            "exported"
        },
        body.clone(),
        actor,
    ))
    .await?;
    tx.append_audit(vec![audit(actor, "export", &request, body.to_string())])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The export, recorded.
pub async fn export_for_download(
    store: &Store,
    key: &str,
    outbound: Outbound,
    actor: &Actor,
) -> Result<(Vec<u8>, ExportManifest), AppError> {
    let (zip, manifest) = export(store, key, outbound, actor.at).await?;
    record_export(store, key, &manifest, None, actor).await?;
    Ok((zip, manifest))
}

/// Transmits the export directly to the controller the subject named (Art. 20(2)).
pub async fn transmit(
    store: &Store,
    key: &str,
    outbound: Outbound,
    actor: &Actor,
) -> Result<u16, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    let url = request.transmit_to.clone().ok_or_else(|| {
        AppError::Conflict("the subject named no controller to transmit to".to_owned())
    })?;
    let target = outbound.check_url("transmit_to", &url)?;
    let (zip, manifest) = export(store, key, outbound, actor.at).await?;
    let client = outbound.client(std::time::Duration::from_secs(60), "Custos-Portability/1")?;
    let response = client
        .post(target)
        .header("content-type", "application/zip")
        .header("custos-request", &request.key)
        .body(zip)
        .send()
        .await
        .map_err(|e| AppError::Conflict(format!("transmit_to {url}: {e}")))?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(AppError::Conflict(format!(
            "transmit_to {url}: answered {status}"
        )));
    }
    record_export(store, key, &manifest, Some((&url, status)), actor).await?;
    Ok(status)
}
