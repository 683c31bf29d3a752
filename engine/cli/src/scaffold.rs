//! `ticktape new-strategy`: a new plugin crate from the template.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The template's source, copied into every new strategy.
const TEMPLATE: &str = include_str!("../../../strategies/template/src/lib.rs");

/// Create a new strategy plugin crate from the template market maker.
///
/// Writes NAME/Cargo.toml (a cdylib depending on this checkout's
/// ticktape-sdk), NAME/src/lib.rs (the template, documented line by line,
/// with the type renamed), NAME/strategy.toml (its configuration with the
/// defaults) and NAME/README.md. The crate is its own workspace, so it can
/// live anywhere.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape new-strategy my-mm
  ticktape new-strategy skew-maker --path ~/strategies
Then:
  cd my-mm && cargo build --release
  ticktape run --strategy target/release/libmy_mm.so --config strategy.toml --tape data/*.tape")]
pub(crate) struct NewStrategyArgs {
    /// Crate name: lower-case letters, digits, '-' and '_', starting with a letter.
    name: String,
    /// Folder to create the crate in.
    #[arg(long, default_value = ".")]
    path: PathBuf,
}

fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map_or_else(String::new, |f| f.to_ascii_uppercase().to_string() + c.as_str())
        })
        .collect()
}

fn sdk_path() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    built.canonicalize().unwrap_or(built)
}

pub(crate) fn run(a: NewStrategyArgs) -> Result<()> {
    let name = a.name.as_str();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "{name:?} is not a valid crate name: use lower-case letters, digits, '-' and '_', starting with a letter"
        );
    }
    let dir = a.path.join(name);
    if dir.exists() {
        bail!("{} already exists; choose another name or --path", dir.display());
    }
    let ty = camel(name);
    let lib = name.replace('-', "_");
    let sdk = sdk_path();
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "cannot find ticktape-sdk at {} (this ticktape was built from a checkout that moved); edit the dependency by hand",
            sdk.display()
        );
    }
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A shared library that `ticktape run --strategy` loads.
crate-type = ["cdylib"]

[dependencies]
ticktape-sdk = {{ path = "{sdk}" }}
serde = {{ version = "1", features = ["derive"] }}

# A workspace of its own: the crate can live anywhere.
[workspace]
"#,
        sdk = sdk.display().to_string().replace('\\', "/")
    );
    let source = TEMPLATE
        .replace("Template", &ty)
        .replace("//! The template strategy: a reference market maker, and the smallest\n//! complete ticktape plugin. `ticktape new-strategy NAME` copies this file.", &format!("//! {name}: a ticktape strategy plugin, started from the template market maker."));
    let config = "# Configuration of the strategy (every key is optional; these are the defaults).\n\
half_spread_ticks = 2\nsize_lots = 1\nrequote_ms = 200\nmax_position_lots = 10\nskew_ticks_per_lot = 0.5\n# symbol = \"BTCUSDT\"\n";
    let readme = format!(
        "# {name}\n\nA ticktape strategy plugin.\n\n```sh\ncargo build --release\n\
ticktape run --strategy target/release/{pre}{lib}{suf} --config strategy.toml --tape DATA/*.tape --out results\n```\n",
        pre = std::env::consts::DLL_PREFIX,
        suf = std::env::consts::DLL_SUFFIX
    );
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, text) in
        [("Cargo.toml", cargo.as_str()), ("src/lib.rs", &source), ("strategy.toml", config), ("README.md", &readme)]
    {
        let p = dir.join(file);
        let mut f = ticktape_tape::AtomicFile::create(&p)?;
        f.write_all(text.as_bytes())?;
        f.commit()?;
    }
    println!("created {} (strategy type {ty}, library {lib})", dir.display());
    println!("next:");
    println!("  cd {} && cargo build --release", dir.display());
    println!(
        "  ticktape run --strategy {}/target/release/{}{lib}{} --config {}/strategy.toml --tape DATA/*.tape",
        dir.display(),
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX,
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn camel_case_names() {
        assert_eq!(camel("my-mm"), "MyMm");
        assert_eq!(camel("skew_maker2"), "SkewMaker2");
    }
}
