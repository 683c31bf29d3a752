//! Test fixture: a valid shared library without `ticktape_plugin_init`.

/// Some other export.
#[unsafe(no_mangle)]
pub extern "C" fn not_a_ticktape_plugin() -> i32 {
    42
}
