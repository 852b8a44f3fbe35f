//! What the benches that talk to a server share: an administrator with an API token, and the
//! server bound to a loopback port of its own.

use std::sync::Arc;

use custos_app::Actor;

/// An instance administrator `email` with the API token `token` (named `name`) of `scopes`.
pub(crate) async fn admin_with_token(
    store: &custos_app::Store,
    email: &str,
    name: &str,
    token: &str,
    scopes: Vec<custos_app::data::Scope>,
    actor: &Actor,
) -> anyhow::Result<()> {
    let user = custos_app::people::create_user(
        store,
        custos_app::people::NewUser {
            email: email.into(),
            password: "a bench password".into(),
            is_admin: true,
            memberships: Vec::new(),
        },
        actor,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    custos_app::sessions::create_token(
        store,
        &user.key,
        custos_app::data::NewToken {
            name: name.into(),
            token_hash: custos_app::sessions::hash_secret(token),
            scopes,
            created_at: custos_app::stamp(actor.at),
            expires_at: None,
        },
        actor,
    )
    .await?;
    Ok(())
}

/// The server over `store` on a free loopback port, public destinations only, trusting
/// `trusted_proxies` to name the client.
pub(crate) async fn bind(
    store: custos_app::Store,
    clock: Arc<dyn custos_app::Clock>,
    trusted_proxies: Vec<std::net::IpAddr>,
) -> anyhow::Result<custos_web::Server> {
    custos_web::Server::bind(
        &custos_web::Config {
            listen: "127.0.0.1:0".parse()?,
            secure_cookies: false,
            outbound: custos_app::outbound::Outbound::PUBLIC_ONLY,
            trusted_proxies,
            oidc: None,
        },
        store,
        clock,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}
