//! Builds the workspace's plugin crates for tests (shared by the
//! end-to-end tests and the engine's tests).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (every test package sits two levels below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Builds every plugin crate of the workspace (template, counter and the
/// test fixtures) once per test binary, in a target folder of their own so
/// the nested cargo never waits on the outer one, and returns the folder
/// holding the shared libraries.
pub fn plugin_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = root();
        let target = root.join("target/test-plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet"])
            .args(PLUGIN_CRATES.iter().flat_map(|c| ["-p", c]))
            .arg("--target-dir")
            .arg(&target)
            .output()
            .expect("run cargo to build the plugin fixtures");
        assert!(out.status.success(), "building the plugins failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("debug")
    })
}

/// The plugin crates [`plugin_dir`] builds.
pub const PLUGIN_CRATES: &[&str] = &[
    "ticktape-template",
    "ticktape-clusterlob",
    "ticktape-rbsa",
    "ticktape-counter",
    "ticktape-fixture-faulty",
    "ticktape-fixture-wrong-abi",
    "ticktape-fixture-no-init",
    "ticktape-fixture-hostile",
];

/// Path of a built plugin by library name (e.g. `ticktape_template`).
pub fn plugin(lib: &str) -> PathBuf {
    plugin_dir().join(format!("{}{lib}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX))
}
