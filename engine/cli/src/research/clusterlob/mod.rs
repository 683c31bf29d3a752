//! `ticktape research clusterlob <verb>`: the ClusterLOB research of seed 002 on any converted tapes.
//!
//! `features` replays tapes into a cached feature folder (one Parquet table per UTC day); `train`
//! fits the clustering model on it; `ic` measures each cluster's order-flow imbalance against the
//! next buckets' mid return. The feature and model code is `ticktape_research::clusterlob`, the same
//! the `clusterlob` market-maker plugin runs.

pub(crate) mod bench;
mod features;
mod ic;
mod table;
mod train;
mod walk_forward;

use clap::Subcommand;

/// ClusterLOB: trade-flow clustering (seed 002): features, train, ic, walk-forward.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research clusterlob features sample/*.tape -o feat
  ticktape research clusterlob train feat -o model.json
  ticktape research clusterlob ic feat --model model.json -o ic
  ticktape research clusterlob walk-forward feat --train 7d --test 1d -o wf")]
pub(crate) struct ClusterlobArgs {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    Features(features::FeaturesArgs),
    Train(train::TrainArgs),
    Ic(ic::IcArgs),
    WalkForward(walk_forward::WalkForwardArgs),
}

pub(crate) fn run(a: ClusterlobArgs) -> anyhow::Result<()> {
    match a.verb {
        Verb::Features(a) => features::run(a),
        Verb::Train(a) => train::run(a),
        Verb::Ic(a) => ic::run(a),
        Verb::WalkForward(a) => walk_forward::run(a),
    }
}
