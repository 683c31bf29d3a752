//! `ticktape convert` as a stand-alone program, until the `ticktape` binary wires it in:
//! `cargo run --release -p ticktape-data --example convert -- tardis trades.csv.gz -o tapes/`.

use clap::Parser;

/// Convert raw exchange data to ticktape tapes.
#[derive(Parser, Debug)]
#[command(name = "ticktape-convert")]
struct Cli {
    #[command(flatten)]
    args: ticktape_data::cli::ConvertArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = ticktape_data::cli::run(&cli.args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
