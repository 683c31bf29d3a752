//! `ticktape research <topic> <verb>`: the analyses of the research behind
//! the shipped strategies. Each topic has its own module here; each reads
//! tapes or tables, calls the kernels in `ticktape-research`, writes Parquet
//! tables with `ticktape_engine::table::Table` and draws its charts with
//! `ticktape-report`.

pub(crate) mod clusterlob;

use clap::Subcommand;

pub(crate) mod bench;
mod data;
pub(crate) mod factors;
pub(crate) mod profile;
pub(crate) mod rbsa;
pub(crate) mod styles;
pub(crate) mod trades;

/// Research commands: turn tapes and tables into the tables and charts the
/// strategies come from.
#[derive(Debug, clap::Args)]
pub(crate) struct ResearchArgs {
    #[command(subcommand)]
    topic: Topic,
}

#[derive(Debug, Subcommand)]
enum Topic {
    Clusterlob(clusterlob::ClusterlobArgs),
    Rbsa(rbsa::RbsaArgs),
    Styles(styles::StylesArgs),
    /// Factor ensembles: grid search of signal models, portfolio weights.
    Factors(factors::FactorsArgs),
    Trades(trades::TradesArgs),
    Profile(profile::ProfileArgs),
}

pub(crate) fn run(a: ResearchArgs) -> anyhow::Result<()> {
    match a.topic {
        Topic::Clusterlob(a) => clusterlob::run(a),
        Topic::Rbsa(a) => rbsa::run(a),
        Topic::Styles(a) => styles::run(a),
        Topic::Factors(f) => factors::run(f),
        Topic::Trades(a) => trades::run(a),
        Topic::Profile(p) => profile::run(p),
    }
}
