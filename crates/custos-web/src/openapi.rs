//! The API's description as served: utoipa's paths and parameters, with every JSON body
//! described by the JSON Schema of the Rust type actually sent or read (schemars: the same
//! system that describes the manifest), and files described as files. A test lists the
//! operations whose body is still undescribed.

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

/// Where a schema goes: an operation's request body, or its response of a status.
enum Part {
    Request,
    Response(&'static str),
}

/// One body described by a Rust type.
struct Described {
    method: &'static str,
    path: &'static str,
    part: Part,
    schema: Value,
}

/// The schema of `T` as it is sent: fields skipped when empty are not required.
fn schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null)
}

/// The schema of `T` as it is read: fields with a default are not required.
fn input<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}

/// Every JSON body whose type the API sends or reads, by operation.
fn described() -> Vec<Described> {
    use crate::api::{changes, ledger, rights};
    use Part::{Request, Response};
    let subject_request = schema::<rights::RequestAnswer>;
    let change_request = schema::<changes::RequestAnswer>;
    let notification = schema::<rights::NotificationAnswer>;
    let mut all = vec![
        (
            "post",
            "/api/v1/subject-requests",
            Request,
            input::<custos_app::rights::NewRequest>(),
        ),
        (
            "post",
            "/api/v1/subject-requests",
            Response("201"),
            subject_request(),
        ),
        (
            "get",
            "/api/v1/subject-requests",
            Response("200"),
            schema::<rights::RequestList>(),
        ),
        (
            "get",
            "/api/v1/subject-requests/{key}/answer",
            Response("200"),
            schema::<custos_core::rights::AccessReport>(),
        ),
        (
            "post",
            "/api/v1/subject-requests/{key}/transmit",
            Response("200"),
            schema::<rights::Transmitted>(),
        ),
        (
            "get",
            "/api/v1/rights-notifications",
            Response("200"),
            schema::<rights::NotificationList>(),
        ),
        (
            "get",
            "/api/v1/rights-notifications/{key}",
            Response("200"),
            schema::<rights::NotificationDetail>(),
        ),
        (
            "get",
            "/api/v1/organisations/{id}/data-sources",
            Response("200"),
            schema::<rights::DataSourceList>(),
        ),
        (
            "post",
            "/api/v1/organisations/{id}/data-sources",
            Response("201"),
            schema::<rights::DataSourceCreated>(),
        ),
        (
            "post",
            "/api/v1/disclosures",
            Request,
            json!({"oneOf": [
                input::<custos_app::ledger::LedgerEvent>(),
                {"type": "array", "items": input::<custos_app::ledger::LedgerEvent>()},
            ]}),
        ),
        (
            "post",
            "/api/v1/disclosures",
            Response("201"),
            schema::<ledger::Recorded>(),
        ),
        (
            "post",
            "/api/v1/change-requests",
            Request,
            input::<custos_core::change::ChangeRequestSpec>(),
        ),
        (
            "put",
            "/api/v1/change-requests/{key}/dossier",
            Request,
            input::<custos_core::change::Dossier>(),
        ),
        (
            "get",
            "/api/v1/organisations/{id}/notice",
            Response("200"),
            schema::<custos_core::notice::Notice>(),
        ),
        (
            "get",
            "/api/v1/organisations/{id}/notices/{name}/versions/{version}",
            Response("200"),
            schema::<crate::api::notices::VersionAnswer>(),
        ),
    ];
    all.extend([
        (
            "get",
            "/api/v1/activities/{id}/chain",
            Response("200"),
            schema::<custos_core::chain::ChainView>(),
        ),
        (
            "get",
            "/api/v1/activities/{id}/recipients",
            Response("200"),
            schema::<custos_core::chain::Recipients<'static>>(),
        ),
        (
            "get",
            "/api/v1/activities/{id}/transfers",
            Response("200"),
            schema::<Vec<custos_core::transfer::Transfer>>(),
        ),
        (
            "get",
            "/api/v1/organisations/{id}/upstream",
            Response("200"),
            schema::<Vec<custos_core::chain::Involvement>>(),
        ),
        (
            "get",
            "/api/v1/findings",
            Response("200"),
            schema::<crate::api::views::FindingsAnswer>(),
        ),
        (
            "get",
            "/api/v1/audit",
            Response("200"),
            schema::<crate::api::audit::AuditPage>(),
        ),
        (
            "post",
            "/api/v1/manifest",
            Response("200"),
            schema::<custos_core::plan::Plan>(),
        ),
        (
            "get",
            "/api/v1/organisations/{id}/records",
            Response("200"),
            schema::<custos_core::records::Record>(),
        ),
        (
            "get",
            "/api/v1/tokens",
            Response("200"),
            schema::<crate::api::people::TokenList>(),
        ),
    ]);
    {
        use crate::api::accounts as a;
        all.extend([
            (
                "get",
                "/api/v1/users",
                Response("200"),
                schema::<a::AccountList>(),
            ),
            (
                "post",
                "/api/v1/users",
                Request,
                input::<a::InvitationBody>(),
            ),
            (
                "post",
                "/api/v1/users",
                Response("201"),
                schema::<a::InvitedAnswer>(),
            ),
            (
                "get",
                "/api/v1/users/{key}",
                Response("200"),
                schema::<custos_app::accounts::Account>(),
            ),
            (
                "put",
                "/api/v1/users/{key}/memberships",
                Request,
                input::<a::MembershipChanges>(),
            ),
            (
                "put",
                "/api/v1/users/{key}/memberships",
                Response("200"),
                schema::<custos_app::accounts::Account>(),
            ),
            (
                "post",
                "/api/v1/users/{key}/disable",
                Response("200"),
                schema::<custos_app::accounts::Account>(),
            ),
            (
                "post",
                "/api/v1/users/{key}/enable",
                Response("200"),
                schema::<custos_app::accounts::Account>(),
            ),
            (
                "post",
                "/api/v1/password-reset",
                Request,
                input::<a::ResetRequest>(),
            ),
            (
                "post",
                "/api/v1/password-reset/complete",
                Request,
                input::<a::LinkCompletion>(),
            ),
            (
                "post",
                "/api/v1/invitations/accept",
                Request,
                input::<a::LinkCompletion>(),
            ),
            (
                "put",
                "/api/v1/me/password",
                Request,
                input::<a::PasswordChange>(),
            ),
            (
                "post",
                "/api/v1/me/totp",
                Response("200"),
                schema::<a::TotpOfferAnswer>(),
            ),
            (
                "post",
                "/api/v1/me/totp/confirm",
                Request,
                input::<a::CodeBody>(),
            ),
            (
                "post",
                "/api/v1/me/totp/confirm",
                Response("200"),
                schema::<a::RecoveryCodes>(),
            ),
            (
                "post",
                "/api/v1/me/totp/disable",
                Request,
                input::<a::CodeBody>(),
            ),
            (
                "post",
                "/api/v1/me/recovery-codes",
                Request,
                input::<a::CodeBody>(),
            ),
            (
                "post",
                "/api/v1/me/recovery-codes",
                Response("200"),
                schema::<a::RecoveryCodes>(),
            ),
            (
                "put",
                "/api/v1/organisations/{id}/security",
                Request,
                input::<a::SecuritySettings>(),
            ),
            (
                "put",
                "/api/v1/organisations/{id}/security",
                Response("200"),
                schema::<a::SecuritySettings>(),
            ),
            ("post", "/api/v1/clients", Request, input::<a::NewClient>()),
            (
                "post",
                "/api/v1/clients",
                Response("201"),
                schema::<a::CreatedClient>(),
            ),
            (
                "get",
                "/api/v1/clients",
                Response("200"),
                schema::<a::ClientList>(),
            ),
            (
                "post",
                "/api/v1/oauth/token",
                Response("200"),
                schema::<a::TokenAnswer>(),
            ),
            (
                "post",
                "/api/v1/oauth/token",
                Response("400"),
                schema::<a::OAuthErrorAnswer>(),
            ),
            (
                "post",
                "/api/v1/oauth/token",
                Response("401"),
                schema::<a::OAuthErrorAnswer>(),
            ),
        ]);
    }
    for path in [
        "/api/v1/subject-requests/{key}/verification",
        "/api/v1/subject-requests/{key}/extend",
        "/api/v1/subject-requests/{key}/close",
        "/api/v1/subject-requests/{key}/refuse",
        "/api/v1/subject-requests/{key}/notify",
    ] {
        all.push(("post", path, Response("200"), subject_request()));
    }
    all.push((
        "get",
        "/api/v1/subject-requests/{key}",
        Response("200"),
        subject_request(),
    ));
    for path in [
        "/api/v1/rights-notifications/{key}/acknowledge",
        "/api/v1/rights-notifications/{key}/done",
        "/api/v1/rights-notifications/{key}/failed",
        "/api/v1/rights-notifications/{key}/impossible",
    ] {
        all.push(("post", path, Response("200"), notification()));
    }
    all.push((
        "post",
        "/api/v1/change-requests",
        Response("201"),
        change_request(),
    ));
    for (method, path) in [
        ("get", "/api/v1/change-requests/{key}"),
        ("post", "/api/v1/change-requests/{key}/decisions"),
        ("put", "/api/v1/change-requests/{key}/dossier"),
        ("post", "/api/v1/change-requests/{key}/withdraw"),
        ("post", "/api/v1/change-requests/{key}/execute"),
    ] {
        all.push((method, path, Response("200"), change_request()));
    }
    let breach = schema::<crate::api::breaches::BreachAnswer>;
    all.extend([
        (
            "post",
            "/api/v1/breaches",
            Request,
            input::<crate::api::breaches::NewBreach>(),
        ),
        ("post", "/api/v1/breaches", Response("201"), breach()),
        (
            "get",
            "/api/v1/breaches",
            Response("200"),
            schema::<crate::api::breaches::BreachPage>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/acknowledge",
            Request,
            input::<crate::api::breaches::Acting>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/relay",
            Request,
            input::<crate::api::breaches::Acting>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/phases",
            Request,
            input::<crate::api::breaches::NewPhase>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/awareness",
            Request,
            input::<crate::api::breaches::Awareness>(),
        ),
        (
            "put",
            "/api/v1/breaches/{key}/cases/{controller}/assessment",
            Request,
            input::<custos_core::breach::Assessment>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/decision",
            Request,
            input::<custos_core::breach::Decision>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/filings",
            Request,
            input::<custos_app::breaches::NewFiling>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/communication",
            Request,
            input::<custos_app::breaches::NewCommunication>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/communication/send",
            Request,
            input::<crate::api::breaches::SendCommunication>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/communication/send",
            Response("200"),
            schema::<custos_app::breaches::Sent>(),
        ),
        (
            "get",
            "/api/v1/breaches/{key}/cases/{controller}/report",
            Response("200"),
            schema::<custos_app::breaches::AuthorityReport>(),
        ),
        (
            "get",
            "/api/v1/breaches/{key}/affected",
            Response("200"),
            schema::<custos_app::breaches::Affected>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/affected",
            Request,
            input::<crate::api::breaches::AffectedBody>(),
        ),
        (
            "post",
            "/api/v1/breaches/{key}/affected",
            Response("200"),
            schema::<custos_app::breaches::Affected>(),
        ),
        (
            "get",
            "/api/v1/organisations/{id}/breaches",
            Response("200"),
            schema::<Vec<custos_app::breaches::RegisterRow>>(),
        ),
    ]);
    for (method, path) in [
        ("get", "/api/v1/breaches/{key}"),
        ("post", "/api/v1/breaches/{key}/acknowledge"),
        ("post", "/api/v1/breaches/{key}/relay"),
        ("post", "/api/v1/breaches/{key}/phases"),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/awareness",
        ),
        (
            "put",
            "/api/v1/breaches/{key}/cases/{controller}/assessment",
        ),
        ("post", "/api/v1/breaches/{key}/cases/{controller}/decision"),
        ("post", "/api/v1/breaches/{key}/cases/{controller}/filings"),
        (
            "post",
            "/api/v1/breaches/{key}/cases/{controller}/communication",
        ),
    ] {
        all.push((method, path, Response("200"), breach()));
    }
    all.into_iter()
        .map(|(method, path, part, schema)| Described {
            method,
            path,
            part,
            schema,
        })
        .collect()
}

/// The schema of a file of `media_type`, or none for JSON.
fn file_schema(media_type: &str) -> Option<Value> {
    match media_type {
        "application/pdf"
        | "application/zip"
        | "application/octet-stream"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
            Some(json!({"type": "string", "format": "binary"}))
        }
        "text/html"
        | "text/markdown"
        | "text/csv"
        | "text/plain"
        | "application/yaml"
        | "application/x-ndjson" => Some(json!({"type": "string"})),
        _ => None,
    }
}

/// Moves a schemars document's `$defs` into `components` and points its references there.
fn into_components(schema: Value, components: &mut Map<String, Value>) -> Value {
    let text = schema
        .to_string()
        .replace("#/$defs/", "#/components/schemas/");
    let mut schema: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(object) = schema.as_object_mut() {
        if let Some(Value::Object(definitions)) = object.remove("$defs") {
            for (name, definition) in definitions {
                match components.get_mut(&name) {
                    None => {
                        components.insert(name, definition);
                    }
                    // The same type read and sent: required are the fields required both ways
                    // (a field with a default may be left out of a request, one skipped when
                    // empty out of a response).
                    Some(existing) => {
                        let required = |v: &Value| -> Vec<Value> {
                            v["required"].as_array().cloned().unwrap_or_default()
                        };
                        let theirs = required(&definition);
                        let both: Vec<Value> = required(existing)
                            .into_iter()
                            .filter(|field| theirs.contains(field))
                            .collect();
                        if let Some(existing) = existing.as_object_mut()
                            && existing.contains_key("required")
                        {
                            existing.insert("required".to_owned(), Value::Array(both));
                        }
                    }
                }
            }
        }
        object.remove("$schema");
    }
    schema
}

/// `doc` (utoipa's) with every described body filled in.
pub fn describe_bodies(doc: &mut Value) {
    let mut components = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for body in described() {
        let schema = into_components(body.schema, &mut components);
        let Some(operation) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(body.path))
            .and_then(|p| p.get_mut(body.method))
        else {
            // A path renamed without its description: the test of the description notices.
            continue;
        };
        let part = match body.part {
            Part::Request => operation.get_mut("requestBody"),
            Part::Response(status) => operation
                .get_mut("responses")
                .and_then(|r| r.get_mut(status)),
        };
        // A response declared without a body gets its JSON body here.
        if let Some(part) = part.and_then(Value::as_object_mut) {
            let content = part.entry("content").or_insert_with(|| json!({}));
            content["application/json"]["schema"] = schema;
        }
    }
    // The register as YAML is a manifest: its schema is the manifest's.
    let manifest = into_components(custos_core::manifest::json_schema(), &mut components);
    if let Some(yaml) =
        doc.pointer_mut("/paths/~1api~1v1~1manifest/get/responses/200/content/application~1yaml")
    {
        yaml["schema"] = manifest;
    }
    // Files are strings: bytes for PDF, XLSX and ZIP, text for HTML, Markdown, CSV, YAML.
    let operations = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations.filter_map(Value::as_object_mut) {
        let mut contents: Vec<&mut Value> = Vec::new();
        for (key, value) in operation.iter_mut() {
            match key.as_str() {
                "requestBody" => contents.extend(value.get_mut("content")),
                "responses" => contents.extend(
                    value
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|r| r.values_mut())
                        .filter_map(|r| r.get_mut("content")),
                ),
                _ => {}
            }
        }
        for content in contents.into_iter().filter_map(Value::as_object_mut) {
            for (media_type, entry) in content.iter_mut() {
                let empty = entry
                    .get("schema")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty);
                if let (true, Some(file)) = (empty, file_schema(media_type)) {
                    entry["schema"] = file;
                }
            }
        }
    }
    doc["components"]["schemas"] = Value::Object(components);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two Rust types of one name would share one component, and one of them would be
    /// described wrongly (the breach's and the findings' `Severity` once did): every definition
    /// of a name is the same (but for which fields are required, read or sent).
    #[test]
    fn no_two_types_share_a_component_name() {
        let mut seen: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
        let mut clashes = Vec::new();
        for described in described() {
            let Some(Value::Object(definitions)) = described.schema.get("$defs").cloned() else {
                continue;
            };
            for (name, mut definition) in definitions {
                if let Some(object) = definition.as_object_mut() {
                    object.remove("required");
                }
                match seen.get(&name) {
                    Some(earlier) if *earlier != definition => {
                        clashes.push(format!("{name} ({} {})", described.method, described.path));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(name, definition);
                    }
                }
            }
        }
        assert_eq!(clashes, Vec::<String>::new());
    }
}
