//! Records the host's target triple, which plugins must match.
fn main() {
    println!("cargo:rustc-env=TICKTAPE_HOST_TARGET={}", std::env::var("TARGET").unwrap_or_default());
}
