//! `custos user create|list|disable|enable|delete|role|reset-password`: the people use cases
//! of the server, run with the database at hand, as an instance administrator (whoever runs the CLI
//! holds the database), audited as `cli`.

use custos_app::accounts::{self, Account};
use custos_app::policy::Caller;
use custos_app::{Clock, Store};
use serde::Serialize;

use crate::cli::{Format, UserCommand, UserCreateArgs};

#[derive(Serialize)]
struct Listed {
    items: Vec<Account>,
}

/// `custos user create`: a user with a password read from the terminal or standard input.
pub async fn create(
    database_url: &str,
    args: &UserCreateArgs,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let mut memberships = Vec::new();
    for member in &args.members {
        let (organisation, role) = member.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--member {member:?}: expected ORGANISATION=ROLE, e.g. agency-b=portal")
        })?;
        let role = custos_app::data::Role::parse(role).ok_or_else(|| {
            anyhow::anyhow!("--member {member:?}: the role must be admin, editor, viewer or portal")
        })?;
        memberships.push((organisation.to_owned(), role));
    }
    let password = read_password()?;
    let store = crate::open(database_url).await?;
    let user = custos_app::people::create_user(
        &store,
        custos_app::people::NewUser {
            email: args.email.clone(),
            password,
            is_admin: args.admin,
            memberships,
        },
        &crate::cli_actor(clock),
    )
    .await?;
    println!(
        "Created {}{} in {}.",
        user.email,
        if user.is_admin {
            " (administrator)"
        } else {
            ""
        },
        custos_app::store::redact(database_url)
    );
    Ok(())
}

/// The password: asked for without echo on a terminal, else one line of standard input.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    Ok(password)
}

/// The key of the account with this address.
async fn key_of(store: &Store, email: &str) -> anyhow::Result<String> {
    custos_app::people::user_by_email(store, email)
        .await?
        .map(|u| u.key)
        .ok_or_else(|| anyhow::anyhow!("no user has the address {email:?}"))
}

fn line(account: &Account) -> String {
    let state = if account.disabled_at.is_some() {
        "disabled"
    } else if account.invited {
        "invited"
    } else {
        "active"
    };
    let roles: Vec<String> = account
        .memberships
        .iter()
        .map(|m| format!("{}={}", m.organisation, m.role.as_str()))
        .collect();
    format!(
        "{}\t{state}\t2fa:{}\t{}{}",
        account.email,
        if account.totp { "on" } else { "off" },
        if account.is_admin { "admin " } else { "" },
        roles.join(" ")
    )
}

pub async fn run(
    store: &Store,
    command: &UserCommand,
    actor: &custos_app::Actor,
) -> anyhow::Result<()> {
    let caller = Caller::instance_admin();
    match command {
        UserCommand::Create(_) => {
            anyhow::bail!("`user create` reads a password: it is run by `users::create`")
        }
        UserCommand::List { format } => {
            let items = accounts::list(store, &caller).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&Listed { items })?),
                _ => {
                    for account in &items {
                        println!("{}", line(account));
                    }
                }
            }
        }
        UserCommand::Disable { email } | UserCommand::Enable { email } => {
            let disabled = matches!(command, UserCommand::Disable { .. });
            let key = key_of(store, email).await?;
            let account = accounts::set_disabled(store, &caller, "", actor, &key, disabled).await?;
            println!("{}", line(&account));
        }
        UserCommand::Delete { email } => {
            let key = key_of(store, email).await?;
            accounts::delete(store, &caller, "", actor, &key).await?;
            println!("Deleted {email}.");
        }
        UserCommand::Role { email, membership } => {
            let (organisation, role) = membership.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("{membership:?}: expected ORGANISATION=ROLE, e.g. agency-b=editor")
            })?;
            let role = match role {
                "none" => None,
                other => Some(custos_app::data::Role::parse(other).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{membership:?}: the role must be admin, editor, viewer, portal or none"
                    )
                })?),
            };
            let key = key_of(store, email).await?;
            let register = custos_app::register::load(store).await?;
            let known = |id: &str| register.organisation(id).is_some();
            let account = accounts::set_memberships(
                store,
                &caller,
                actor,
                &key,
                vec![(organisation.to_owned(), role)],
                &known,
            )
            .await?;
            println!("{}", line(&account));
        }
        UserCommand::ResetPassword { email } => {
            accounts::request_password_reset(store, email, custos_render::Language::En, actor.at)
                .await?;
            println!(
                "If {email} has an account (and was sent fewer than {} links this hour), a link is queued for it; `custos serve` sends it.",
                accounts::RESETS_PER_HOUR
            );
        }
    }
    Ok(())
}
