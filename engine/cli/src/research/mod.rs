//! `ticktape research <topic> <verb>`: the analyses of the research behind
//! the shipped strategies. Each topic has its own module here; each reads
//! tapes or tables, calls the kernels in `ticktape-research`, writes Parquet
//! tables with `ticktape_engine::table::Table` and draws its charts with
//! `ticktape-report`.

use clap::Subcommand;

pub(crate) mod factors;

/// Research commands: turn tapes and tables into the tables and charts the
/// strategies come from.
#[derive(Debug, clap::Args)]
pub(crate) struct ResearchArgs {
    #[command(subcommand)]
    topic: Topic,
}

#[derive(Debug, Subcommand)]
enum Topic {
    /// Factor ensembles: grid search of signal models, portfolio weights.
    Factors(factors::FactorsArgs),
}

pub(crate) fn run(a: ResearchArgs) -> anyhow::Result<()> {
    match a.topic {
        Topic::Factors(f) => factors::run(f),
    }
}
