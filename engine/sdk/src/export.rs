//! The glue [`export_strategy!`](crate::export_strategy) generates: one
//! `extern "C"` function per vtable entry, each catching panics.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::mem::size_of;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ticktape_tape::{Bar, Funding, Level, Quote, RecordKind, Series, Trade};

use crate::abi::{
    ABI_VERSION, EventRef, HostApi, HostCtx, Instance, LAYOUT_HASH, OrderUpdate, OwnedBuf, PluginManifest,
    PluginVTable, StrRef, status, update_kind,
};
use crate::context::Context;
use crate::strategy::Strategy;

thread_local! {
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Set by the exported init function, i.e. when this copy of the SDK lives
/// in a shared library loaded by a host. Such a library has its own copy of
/// std, and its code runs only inside guarded calls, so every panic its
/// panic hook sees is a plugin panic: the guard then needs no thread-local
/// bookkeeping (thread-locals of a dynamically loaded library are slow to
/// reach). Linked into a host instead, the init function is never called
/// and the hook tells plugin panics from host panics per thread.
static LOADED: AtomicBool = AtomicBool::new(false);

/// Marks this SDK copy as living in a loaded plugin. Called by the init
/// function [`export_strategy!`](crate::export_strategy) generates.
#[doc(hidden)]
pub fn mark_loaded() {
    LOADED.store(true, Ordering::Relaxed);
}

/// Installs (once) a panic hook that records panics raised inside a plugin
/// call instead of printing them, and defers to the previous hook for any
/// other panic (so a strategy linked into the host changes nothing else).
#[inline(always)]
fn install_hook() {
    if !HOOK.is_completed() {
        install_hook_slow();
    }
}

#[cold]
fn install_hook_slow() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if LOADED.load(Ordering::Relaxed) || IN_GUARD.with(Cell::get) {
                let msg = info.payload_as_str().unwrap_or("(non-string panic payload)");
                let text = match info.location() {
                    Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
                    None => msg.to_owned(),
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

fn give(err: *mut OwnedBuf, msg: String) {
    if err.is_null() {
        return;
    }
    let mut bytes = std::mem::ManuallyDrop::new(msg.into_bytes());
    let buf = OwnedBuf { ptr: bytes.as_mut_ptr(), len: bytes.len(), cap: bytes.capacity() };
    // SAFETY: the host passes a valid place for the error buffer (or null,
    // checked above); it hands the buffer back to `free_buffer`.
    unsafe { err.write(buf) };
}

/// Runs `f`, turning an error or a panic into a status code and a message.
#[inline]
fn guard(err: *mut OwnedBuf, f: impl FnOnce() -> Result<(), (i32, String)>) -> i32 {
    install_hook();
    let result = if LOADED.load(Ordering::Relaxed) {
        catch_unwind(AssertUnwindSafe(f))
    } else {
        let was = IN_GUARD.with(|g| g.replace(true));
        let r = catch_unwind(AssertUnwindSafe(f));
        IN_GUARD.with(|g| g.set(was));
        r
    };
    match result {
        Ok(Ok(())) => status::OK,
        Ok(Err((code, msg))) => {
            give(err, msg);
            code
        }
        Err(payload) => {
            let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic payload)".to_owned())
            });
            give(err, msg);
            status::PANIC
        }
    }
}

/// Turns a TOML error into one line, "line L, column C: message" (the
/// error's own text spans several lines with a source excerpt).
pub fn toml_error_line(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

/// The callback's outcome: an error with the message of [`Context::fail`], if called.
#[inline(always)]
fn outcome(cx: &mut Context<'_>) -> Result<(), (i32, String)> {
    match cx.take_failure() {
        None => Ok(()),
        Some(m) => Err((status::ERROR, m)),
    }
}

fn check_host(host: *const HostApi) -> Result<(), (i32, String)> {
    // SAFETY: the host passes a valid table for the duration of the call.
    let size = unsafe { (*host).size };
    if size < size_of::<HostApi>() {
        return Err((
            status::ERROR,
            format!(
                "the host's API table is {size} bytes, this plugin needs {}; upgrade ticktape",
                size_of::<HostApi>()
            ),
        ));
    }
    Ok(())
}

unsafe extern "C" fn create<S: Strategy>(config: StrRef, out: *mut Instance, err: *mut OwnedBuf) -> i32 {
    // SAFETY: as the caller's contract; an empty `dir` is valid.
    unsafe { create_in::<S>(config, StrRef::new(""), out, err) }
}

unsafe extern "C" fn create_in<S: Strategy>(
    config: StrRef,
    dir: StrRef,
    out: *mut Instance,
    err: *mut OwnedBuf,
) -> i32 {
    guard(err, || {
        // SAFETY: the host passes config text and a folder valid for this call.
        let (text, dir) = unsafe { (config.as_str(), dir.as_str()) };
        let _dir = ConfigDir::set(&dir);
        let cfg: S::Config = toml::from_str(&text).map_err(|e| (status::CONFIG_ERROR, toml_error_line(&e, &text)))?;
        let strategy = S::new(cfg).map_err(|m| (status::CONFIG_ERROR, m))?;
        let inst = Box::into_raw(Box::new(strategy)).cast::<c_void>();
        // SAFETY: the host passes a valid place for the instance.
        unsafe { out.write(inst) };
        Ok(())
    })
}

thread_local! {
    /// The configuration's folder while a strategy is being created.
    static CONFIG_DIR: std::cell::RefCell<Option<std::path::PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Sets [`CONFIG_DIR`] for the life of the guard (also on a panic).
struct ConfigDir;

impl ConfigDir {
    fn set(dir: &str) -> ConfigDir {
        let dir = (!dir.is_empty()).then(|| std::path::PathBuf::from(dir));
        CONFIG_DIR.with(|d| *d.borrow_mut() = dir);
        ConfigDir
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        CONFIG_DIR.with(|d| *d.borrow_mut() = None);
    }
}

/// A path from a strategy's configuration, resolved like the run file's own
/// paths: a relative `path` is joined to the folder of the file that holds
/// the configuration (the run file for a `[strategy_config]` table, the
/// config file for `config = "FILE"` or `--config FILE`); an absolute one is
/// returned as is. Outside [`Strategy::new`], or when
/// the host gave no folder (inline configuration, tests), `path` is relative
/// to the working directory and returned unchanged.
pub fn config_path(path: impl AsRef<std::path::Path>) -> std::path::PathBuf {
    let path = path.as_ref();
    if path.is_absolute() {
        return path.to_path_buf();
    }
    CONFIG_DIR.with(|d| match &*d.borrow() {
        Some(dir) => dir.join(path),
        None => path.to_path_buf(),
    })
}

/// # Safety
/// `inst` must come from `create::<S>` and not be in use elsewhere.
unsafe fn strategy<'a, S>(inst: Instance) -> &'a mut S {
    // SAFETY: per this function's contract.
    unsafe { &mut *inst.cast::<S>() }
}

unsafe extern "C" fn on_start<S: Strategy>(
    inst: Instance,
    host: *const HostApi,
    ctx: HostCtx,
    err: *mut OwnedBuf,
) -> i32 {
    guard(err, || {
        check_host(host)?;
        // SAFETY: the host calls with an instance from `create` and a valid table and context.
        let (s, mut cx) = unsafe { (strategy::<S>(inst), Context::from_raw(host, ctx)) };
        s.on_start(&mut cx);
        outcome(&mut cx)
    })
}

unsafe extern "C" fn on_events<S: Strategy>(
    inst: Instance,
    host: *const HostApi,
    ctx: HostCtx,
    events: *const EventRef,
    n: usize,
    err: *mut OwnedBuf,
) -> i32 {
    guard(err, || {
        // SAFETY: as in `on_start`; `events..events + n` is valid for this call.
        let (s, mut cx, events) =
            unsafe { (strategy::<S>(inst), Context::from_raw(host, ctx), std::slice::from_raw_parts(events, n)) };
        // SAFETY: the host guarantees each record pointer matches its kind and
        // is alive for the call.
        unsafe { dispatch_events(s, &mut cx, events) };
        outcome(&mut cx)
    })
}

/// Delivers `events` to `s` in order: the per-kind callbacks, and
/// `on_book` after a level update that ends its batch. This is what a
/// plugin does on `on_events`; a host linking a strategy natively calls it
/// directly.
///
/// # Safety
///
/// Every `record` must point to a valid record of its event's `kind`,
/// alive for the duration of the call.
#[inline]
pub unsafe fn dispatch_events<S: Strategy>(s: &mut S, cx: &mut Context<'_>, events: &[EventRef]) {
    for e in events {
        let i = e.instrument;
        match e.kind {
            k if k == RecordKind::Trade as u32 => {
                // SAFETY: the caller guarantees `record` is a live Trade for this kind.
                s.on_trade(cx, i, unsafe { &*e.record.cast::<Trade>() });
            }
            k if k == RecordKind::Level as u32 => {
                // SAFETY: the caller guarantees `record` is a live Level for this kind.
                let level = unsafe { &*e.record.cast::<Level>() };
                s.on_level(cx, i, level);
                if level.is_batch_end() {
                    s.on_book(cx, i);
                }
            }
            k if k == RecordKind::Quote as u32 => {
                // SAFETY: the caller guarantees `record` is a live Quote for this kind.
                s.on_quote(cx, i, unsafe { &*e.record.cast::<Quote>() });
            }
            k if k == RecordKind::Funding as u32 => {
                // SAFETY: the caller guarantees `record` is a live Funding for this kind.
                s.on_funding(cx, i, unsafe { &*e.record.cast::<Funding>() });
            }
            k if k == RecordKind::Bar as u32 => {
                // SAFETY: the caller guarantees `record` is a live Bar for this kind.
                s.on_bar(cx, i, unsafe { &*e.record.cast::<Bar>() });
            }
            k if k == RecordKind::Series as u32 => {
                // SAFETY: the caller guarantees `record` is a live Series for this kind.
                s.on_series(cx, i, unsafe { &*e.record.cast::<Series>() });
            }
            _ => {} // kinds a newer host may add: ignored
        }
    }
}

/// Delivers order updates to `s`, one callback per update by kind.
pub fn dispatch_orders<S: Strategy>(s: &mut S, cx: &mut Context<'_>, updates: &[OrderUpdate]) {
    for u in updates {
        match u.kind {
            update_kind::ACCEPTED => s.on_accepted(cx, u),
            update_kind::REJECTED => s.on_rejected(cx, u),
            update_kind::FILLED => s.on_fill(cx, u),
            update_kind::CANCELLED => s.on_cancelled(cx, u),
            update_kind::REPLACED => s.on_replaced(cx, u),
            _ => {}
        }
    }
}

unsafe extern "C" fn on_orders<S: Strategy>(
    inst: Instance,
    host: *const HostApi,
    ctx: HostCtx,
    updates: *const OrderUpdate,
    n: usize,
    err: *mut OwnedBuf,
) -> i32 {
    guard(err, || {
        // SAFETY: as in `on_events`.
        let (s, mut cx, updates) =
            unsafe { (strategy::<S>(inst), Context::from_raw(host, ctx), std::slice::from_raw_parts(updates, n)) };
        dispatch_orders(s, &mut cx, updates);
        outcome(&mut cx)
    })
}

unsafe extern "C" fn on_timer<S: Strategy>(
    inst: Instance,
    host: *const HostApi,
    ctx: HostCtx,
    token: u64,
    err: *mut OwnedBuf,
) -> i32 {
    guard(err, || {
        // SAFETY: as in `on_start`.
        let (s, mut cx) = unsafe { (strategy::<S>(inst), Context::from_raw(host, ctx)) };
        s.on_timer(&mut cx, token);
        outcome(&mut cx)
    })
}

unsafe extern "C" fn on_finish<S: Strategy>(
    inst: Instance,
    host: *const HostApi,
    ctx: HostCtx,
    err: *mut OwnedBuf,
) -> i32 {
    guard(err, || {
        // SAFETY: as in `on_start`.
        let (s, mut cx) = unsafe { (strategy::<S>(inst), Context::from_raw(host, ctx)) };
        s.on_finish(&mut cx);
        outcome(&mut cx)
    })
}

unsafe extern "C" fn destroy<S: Strategy>(inst: Instance) {
    if inst.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `inst` came from `Box::into_raw` in `create::<S>` and the
        // host destroys it once.
        drop(unsafe { Box::from_raw(inst.cast::<S>()) });
    }));
}

unsafe extern "C" fn free_buffer(buf: OwnedBuf) {
    if buf.ptr.is_null() {
        return;
    }
    // SAFETY: the buffer came from `give`, which leaked a Vec<u8> with
    // exactly this pointer, length and capacity.
    drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
}

/// The function table for strategy `S`.
pub const fn vtable<S: Strategy>() -> PluginVTable {
    PluginVTable {
        size: size_of::<PluginVTable>(),
        create: create::<S>,
        on_start: on_start::<S>,
        on_events: on_events::<S>,
        on_orders: on_orders::<S>,
        on_timer: on_timer::<S>,
        on_finish: on_finish::<S>,
        destroy: destroy::<S>,
        free_buffer,
        create_in: create_in::<S>,
    }
}

/// The manifest of a plugin built from this SDK.
pub const fn manifest(
    vtable: &'static PluginVTable,
    name: &'static str,
    version: &'static str,
    panic_unwind: bool,
    subscriptions: u32,
) -> PluginManifest {
    PluginManifest {
        abi_version: ABI_VERSION,
        manifest_size: size_of::<PluginManifest>() as u32,
        sdk_version: StrRef::from_static(crate::SDK_VERSION),
        name: StrRef::from_static(name),
        version: StrRef::from_static(version),
        build_rustc: StrRef::from_static(env!("TICKTAPE_SDK_RUSTC")),
        build_target: StrRef::from_static(env!("TICKTAPE_SDK_TARGET")),
        build_profile: StrRef::from_static(env!("TICKTAPE_SDK_PROFILE")),
        panic_unwind: panic_unwind as u32,
        subscriptions,
        tape_format_version: ticktape_tape::FORMAT_VERSION as u32,
        layout_hash: LAYOUT_HASH,
        vtable,
    }
}

/// A manifest for strategy `S` linked into the host (no shared library):
/// the same glue a plugin exports, for in-process runs. Leaks two small
/// allocations, once per call.
pub fn in_process<S: Strategy>(name: &'static str, version: &'static str) -> &'static PluginManifest {
    let vtable: &'static PluginVTable = Box::leak(Box::new(vtable::<S>()));
    Box::leak(Box::new(manifest(vtable, name, version, cfg!(panic = "unwind"), S::SUBSCRIBE)))
}

/// Exports a [`Strategy`] type as a ticktape plugin: generates the
/// `ticktape_plugin_init` entry point and its manifest. Use it once, in a
/// crate built as a `cdylib`.
///
/// ```ignore
/// ticktape_sdk::export_strategy!(MyStrategy);
/// ```
#[macro_export]
macro_rules! export_strategy {
    ($strategy:ty) => {
        #[doc(hidden)]
        pub static TICKTAPE_PLUGIN_VTABLE: $crate::abi::PluginVTable = $crate::export::vtable::<$strategy>();

        #[doc(hidden)]
        pub static TICKTAPE_PLUGIN_MANIFEST: $crate::abi::PluginManifest = $crate::export::manifest(
            &TICKTAPE_PLUGIN_VTABLE,
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            cfg!(panic = "unwind"),
            <$strategy as $crate::Strategy>::SUBSCRIBE,
        );

        /// The plugin's entry point: returns its manifest.
        #[unsafe(no_mangle)]
        pub extern "C" fn ticktape_plugin_init() -> *const $crate::abi::PluginManifest {
            $crate::export::mark_loaded();
            &TICKTAPE_PLUGIN_MANIFEST
        }
    };
}
