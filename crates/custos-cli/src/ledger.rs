//! `custos ledger ...`: the disclosure ledger from the command line.

use anyhow::Context as _;
use custos_app::Clock;
use custos_app::register as usecase;

use crate::cli::LedgerCommand;
use crate::{cli_actor, emit, open};

pub async fn ledger(
    database_url: &str,
    command: LedgerCommand,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    let register = usecase::load(&store).await?;
    match command {
        LedgerCommand::Import { file, batch, bulk } => {
            let actor = cli_actor(clock);
            let options = custos_app::ledger::ImportOptions { batch, bulk };
            let recorded = if file.as_os_str() == "-" {
                custos_app::ledger::import(
                    &store,
                    &register,
                    std::io::stdin().lock(),
                    &actor,
                    options,
                )
                .await?
            } else {
                let reader = std::io::BufReader::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?,
                );
                custos_app::ledger::import(&store, &register, reader, &actor, options).await?
            };
            println!("recorded {recorded} disclosure(s)");
        }
        LedgerCommand::Answer { identifier, format } => {
            let answer =
                custos_app::ledger::answer(&store, &register, &identifier, clock.now()).await?;
            emit(format, &answer, || {
                let mut text = String::new();
                for r in &answer.recipients {
                    // Direct recipients: the disclosures' times; those below: since when they
                    // held the data.
                    let when = match &r.through {
                        None => format!("disclosed from {} to {}", r.first, r.last),
                        Some(t) => format!("through {t}, since {}", r.since),
                    };
                    text.push_str(&format!(
                        "{} ({}): {}; {when}\n",
                        r.name,
                        r.country,
                        crate::output::slugs(&r.categories),
                    ));
                }
                for t in &answer.transfers {
                    text.push_str(&format!(
                        "transfer {} -> {} ({}) on {}{}\n",
                        t.exporter,
                        t.importer,
                        t.destination,
                        t.mechanism,
                        t.basis
                            .as_deref()
                            .map(|b| format!(", {b}"))
                            .unwrap_or_default()
                    ));
                }
                if text.is_empty() {
                    text.push_str("no disclosure of this subject is recorded\n");
                }
                text
            })?;
        }
    }
    Ok(())
}
