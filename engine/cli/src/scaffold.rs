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
It prints the next commands with absolute paths (this ticktape binary, the plugin the build
makes), so they work from any folder, e.g. for /home/me/my-mm:
  cargo build --release --manifest-path /home/me/my-mm/Cargo.toml
  /opt/tt/ticktape run --strategy /home/me/my-mm/target/release/libmy_mm.so \\
      --config /home/me/my-mm/strategy.toml --tape DATA/*.tape --out /home/me/my-mm/results")]
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
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, text) in [("Cargo.toml", cargo.as_str()), ("src/lib.rs", &source), ("strategy.toml", config)] {
        let p = dir.join(file);
        let mut f = ticktape_tape::AtomicFile::create(&p)?;
        f.write_all(text.as_bytes())?;
        f.commit()?;
    }
    let abs = dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))?;
    let cmds = Commands::new(&abs, &lib)?;
    let readme = format!(
        "# {name}\n\nA ticktape strategy plugin.\n\n```sh\n{}\n{}\n```\n\n`{}` is the ticktape binary that \
created this crate; any `ticktape` on your PATH works the same. Paths are absolute, so the commands work from any \
folder; replace `DATA/*.tape` with your tapes.\n",
        cmds.build, cmds.run, cmds.exe
    );
    let p = dir.join("README.md");
    let mut f = ticktape_tape::AtomicFile::create(&p)?;
    f.write_all(readme.as_bytes())?;
    f.commit()?;
    println!("created {} (strategy type {ty}, library {lib})", abs.display());
    println!("next (absolute paths: run them from any folder; replace DATA/*.tape with your tapes):");
    println!("  {}", cmds.build);
    println!("  {}", cmds.run);
    Ok(())
}

/// The commands that build and run a new strategy, with absolute paths: the
/// running `ticktape` binary and the plugin the build will produce.
struct Commands {
    exe: String,
    build: String,
    run: String,
}

impl Commands {
    fn new(krate: &Path, lib: &str) -> Result<Commands> {
        let exe = std::env::current_exe().context("cannot find the path of the running ticktape binary")?;
        let exe = exe.canonicalize().unwrap_or(exe);
        let plugin = krate.join("target/release").join(format!(
            "{}{lib}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
        let q = |p: &Path| shell_quote(&p.to_string_lossy());
        Ok(Commands {
            exe: q(&exe),
            build: format!("cargo build --release --manifest-path {}", q(&krate.join("Cargo.toml"))),
            run: format!(
                "{} run --strategy {} --config {} --tape DATA/*.tape --out {}",
                q(&exe),
                q(&plugin),
                q(&krate.join("strategy.toml")),
                q(&krate.join("results"))
            ),
        })
    }
}

/// `s` as one POSIX shell word: as is when it holds only safe characters,
/// else single-quoted.
fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::{camel, shell_quote};

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("/a/b-c/x.so"), "/a/b-c/x.so");
        assert_eq!(shell_quote("/my dir/x"), "'/my dir/x'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn camel_case_names() {
        assert_eq!(camel("my-mm"), "MyMm");
        assert_eq!(camel("skew_maker2"), "SkewMaker2");
    }
}
