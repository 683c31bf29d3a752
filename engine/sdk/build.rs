//! Records the build identity (rustc, target, profile) that plugins embed in
//! their manifest, so the host can say exactly what a plugin was built with.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown version)".into());
    println!("cargo:rustc-env=TICKTAPE_SDK_RUSTC={version}");
    println!("cargo:rustc-env=TICKTAPE_SDK_TARGET={}", std::env::var("TARGET").unwrap_or_default());
    println!("cargo:rustc-env=TICKTAPE_SDK_PROFILE={}", std::env::var("PROFILE").unwrap_or_default());
    println!("cargo:rerun-if-env-changed=RUSTC");
}
