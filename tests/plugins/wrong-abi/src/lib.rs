//! Test fixture: exports `ticktape_plugin_init`, but its manifest says it
//! was built for ABI 999 and its layout hash is wrong.

use ticktape_sdk::abi::{PluginManifest, PluginVTable};
use ticktape_sdk::export::{manifest, vtable};
use ticktape_sdk::{NoConfig, Strategy};

/// A strategy that does nothing.
#[derive(Debug)]
pub struct Nothing;

impl Strategy for Nothing {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Nothing)
    }
}

static VTABLE: PluginVTable = vtable::<Nothing>();

static MANIFEST: PluginManifest = {
    let mut m = manifest(&VTABLE, "wrong-abi", "0.0.1", true, 0);
    m.abi_version = 999;
    m.layout_hash ^= 1;
    m
};

/// The entry point, returning the doctored manifest.
#[unsafe(no_mangle)]
pub extern "C" fn ticktape_plugin_init() -> *const PluginManifest {
    &MANIFEST
}
