//! Loading strategy plugins and calling them: **every** `unsafe` block for
//! plugins lives in this module.
//!
//! A plugin is a shared library exporting `ticktape_plugin_init` (see
//! [`ticktape_sdk::abi`]). Loading validates the whole manifest before using
//! anything and reports every mismatch in one error. Plugins are never
//! unloaded: the library handle is leaked, so function pointers and static
//! strings stay valid for the life of the process. Every call into a plugin
//! reports panics as errors (the SDK's glue catches them); every call from a
//! plugin into the host ([`Host`] trampolines) catches host panics so none
//! unwinds through plugin frames, and re-raises them once control is back.

use std::cell::RefCell;
use std::ffi::c_void;
use std::mem::size_of;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use ticktape_sdk::abi::{
    ABI_VERSION, BookTopInfo, EventRef, HostApi, HostCtx, INIT_SYMBOL, InstrumentInfo, LAYOUT_HASH, OrderInfo,
    OrderRequest, OrderUpdate, OwnedBuf, PluginManifest, PluginVTable, PositionInfo, StrRef, status,
};
use ticktape_sdk::side;

/// Errors from loading or running a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The file could not be loaded as a shared library.
    #[error(
        "{path}: not a loadable shared library ({detail}); pass the .so/.dylib/.dll that `cargo build --release` puts in target/release/"
    )]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the dynamic loader said.
        detail: String,
    },
    /// The library has no `ticktape_plugin_init`.
    #[error(
        "{path}: does not export `ticktape_plugin_init`, so it is not a ticktape plugin; add `ticktape_sdk::export_strategy!(YourStrategy);` to the crate and build it as a cdylib"
    )]
    MissingInit {
        /// The file.
        path: PathBuf,
    },
    /// The manifest does not match this host.
    #[error("{what}: incompatible plugin: {}", problems.join("; "))]
    Incompatible {
        /// The plugin (path or name).
        what: String,
        /// Every mismatch found.
        problems: Vec<String>,
    },
    /// The plugin refused its configuration.
    #[error("strategy {plugin}: configuration error: {message}")]
    Config {
        /// Plugin name.
        plugin: String,
        /// What the plugin said.
        message: String,
    },
    /// The plugin panicked.
    #[error("strategy {plugin} panicked in {during}: {message}")]
    Panic {
        /// Plugin name.
        plugin: String,
        /// Which callback.
        during: &'static str,
        /// The panic message and location.
        message: String,
    },
    /// The plugin returned an error status.
    #[error("strategy {plugin} failed in {during} (status {status}): {message}")]
    Failed {
        /// Plugin name.
        plugin: String,
        /// Which callback.
        during: &'static str,
        /// The status code.
        status: i32,
        /// What the plugin said.
        message: String,
    },
}

/// Build identity and name of a validated plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// SDK version it was built against.
    pub sdk_version: String,
    /// `rustc --version` of its build.
    pub rustc: String,
    /// Target triple of its build.
    pub target: String,
    /// Cargo profile of its build.
    pub profile: String,
    /// Where it was loaded from (`None` when linked in process).
    pub path: Option<PathBuf>,
}

/// A validated plugin: its manifest and function table, valid for the life
/// of the process.
#[derive(Clone, Debug)]
pub struct Plugin {
    vtable: &'static PluginVTable,
    info: PluginInfo,
    subscriptions: u32,
}

/// Reads a `'static` manifest string.
fn manifest_str(s: StrRef) -> String {
    // SAFETY: manifest strings are `'static` data of a plugin that is never
    // unloaded (or of this process, for in-process strategies). Length is
    // capped against corrupt manifests.
    if s.len > 4096 || (s.ptr.is_null() && s.len > 0) {
        return "<invalid string>".to_owned();
    }
    // SAFETY: as above.
    unsafe { s.as_str() }.into_owned()
}

impl Plugin {
    /// Loads and validates the plugin at `path`.
    pub fn load(path: &Path) -> Result<Self, PluginError> {
        // SAFETY: loading a library runs its initialisers; a ticktape plugin
        // is Rust code built with the SDK, whose initialisers are benign.
        // This is the trust the user extends by passing the plugin.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| PluginError::NotALibrary {
            path: path.to_path_buf(),
            detail: e.to_string().lines().next().unwrap_or("").to_owned(),
        })?;
        type Init = unsafe extern "C" fn() -> *const PluginManifest;
        // SAFETY: the symbol's type is fixed by the ABI (`INIT_SYMBOL`).
        let init: Init = match unsafe { lib.get::<Init>(INIT_SYMBOL) } {
            Ok(sym) => *sym,
            Err(_) => return Err(PluginError::MissingInit { path: path.to_path_buf() }),
        };
        // Never unload: function pointers and statics must outlive the run.
        std::mem::forget(lib);
        // SAFETY: `init` takes no arguments and returns a pointer to the
        // plugin's static manifest (checked for null next).
        let manifest = unsafe { init() };
        // SAFETY: a non-null manifest pointer refers to a `'static` manifest
        // in the never-unloaded library; only `abi_version` and
        // `manifest_size` are read before they are checked.
        let manifest = unsafe { manifest.as_ref() }.ok_or_else(|| PluginError::Incompatible {
            what: path.display().to_string(),
            problems: vec!["`ticktape_plugin_init` returned a null manifest".into()],
        })?;
        Self::validate(manifest, Some(path))
    }

    /// Validates a manifest of a strategy linked into this process (see
    /// [`ticktape_sdk::export::in_process`]).
    pub fn in_process(manifest: &'static PluginManifest) -> Result<Self, PluginError> {
        Self::validate(manifest, None)
    }

    fn validate(m: &'static PluginManifest, path: Option<&Path>) -> Result<Self, PluginError> {
        let what = path.map_or_else(|| "in-process strategy".to_owned(), |p| p.display().to_string());
        let sdk_hint = format!("rebuild it against ticktape-sdk {}", ticktape_sdk::SDK_VERSION);
        // Nothing beyond the first two fields is read unless they match.
        if m.abi_version != ABI_VERSION {
            return Err(PluginError::Incompatible {
                what,
                problems: vec![format!(
                    "plugin built for ABI {}, this ticktape speaks ABI {ABI_VERSION}; {sdk_hint}",
                    m.abi_version
                )],
            });
        }
        if (m.manifest_size as usize) < size_of::<PluginManifest>() {
            return Err(PluginError::Incompatible {
                what,
                problems: vec![format!(
                    "manifest is {} bytes, ABI {ABI_VERSION} needs {}; {sdk_hint}",
                    m.manifest_size,
                    size_of::<PluginManifest>()
                )],
            });
        }
        let info = PluginInfo {
            name: manifest_str(m.name),
            version: manifest_str(m.version),
            sdk_version: manifest_str(m.sdk_version),
            rustc: manifest_str(m.build_rustc),
            target: manifest_str(m.build_target),
            profile: manifest_str(m.build_profile),
            path: path.map(Path::to_path_buf),
        };
        let mut problems = Vec::new();
        if m.tape_format_version != u32::from(ticktape_tape::FORMAT_VERSION) {
            problems.push(format!(
                "plugin reads tape format {}, this ticktape writes format {}; {sdk_hint}",
                m.tape_format_version,
                ticktape_tape::FORMAT_VERSION
            ));
        }
        if m.layout_hash != LAYOUT_HASH {
            problems.push(format!(
                "layouts of shared types differ (plugin {:016x}, host {LAYOUT_HASH:016x}: built with ticktape-sdk {} by {}); {sdk_hint}",
                m.layout_hash, info.sdk_version, info.rustc
            ));
        }
        if m.panic_unwind != 1 {
            problems.push(
                "plugin built with panic = \"abort\": its panics would abort ticktape; build it with panic = \"unwind\" (the default)"
                    .to_owned(),
            );
        }
        if info.target != env!("TICKTAPE_HOST_TARGET") && !info.target.is_empty() {
            problems.push(format!(
                "plugin built for target {}, this ticktape runs on {}",
                info.target,
                env!("TICKTAPE_HOST_TARGET")
            ));
        }
        // SAFETY: the manifest passed the ABI and size checks, so `vtable`
        // is a pointer field of a layout this host knows; null is checked.
        let vtable = match unsafe { m.vtable.as_ref() } {
            Some(v) if v.size >= size_of::<PluginVTable>() => Some(v),
            Some(v) => {
                problems.push(format!(
                    "function table is {} bytes, ABI {ABI_VERSION} needs {}; {sdk_hint}",
                    v.size,
                    size_of::<PluginVTable>()
                ));
                None
            }
            None => {
                problems.push("manifest has a null function table".to_owned());
                None
            }
        };
        match vtable {
            Some(vtable) if problems.is_empty() => Ok(Plugin { vtable, info, subscriptions: m.subscriptions }),
            _ => Err(PluginError::Incompatible { what: format!("{what} ({} {})", info.name, info.version), problems }),
        }
    }

    /// Name, version and build identity.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The market events the strategy subscribed to.
    pub fn subscriptions(&self) -> u32 {
        self.subscriptions
    }

    /// Creates a strategy instance from its TOML configuration text; paths
    /// in it are relative to the working directory.
    pub fn create(&self, config: &str) -> Result<Instance, PluginError> {
        self.create_in(config, None)
    }

    /// Creates a strategy instance from its TOML configuration text, whose
    /// relative paths are relative to `dir` (the folder of the file the
    /// configuration came from; `None`: the working directory). The plugin
    /// resolves them with `ticktape_sdk::config_path`.
    pub fn create_in(&self, config: &str, dir: Option<&Path>) -> Result<Instance, PluginError> {
        let mut inst: *mut c_void = std::ptr::null_mut();
        let mut err = OwnedBuf::empty();
        let dir = dir.map(|d| d.to_string_lossy()).unwrap_or_default();
        // SAFETY: the vtable was validated; `config` and `dir` outlive the
        // call; `inst` and `err` are valid places to write.
        let code = unsafe { (self.vtable.create_in)(StrRef::new(config), StrRef::new(&dir), &mut inst, &mut err) };
        let message = self.take_message(err);
        match code {
            status::OK if !inst.is_null() => Ok(Instance { plugin: self.clone(), inst }),
            status::CONFIG_ERROR => Err(PluginError::Config { plugin: self.info.name.clone(), message }),
            _ => Err(self.error("create", code, message)),
        }
    }

    fn take_message(&self, err: OwnedBuf) -> String {
        if err.ptr.is_null() {
            return String::new();
        }
        // SAFETY: a non-null error buffer was filled by the plugin with
        // `len` initialised bytes; it is handed back to the plugin's
        // `free_buffer` right after being copied.
        let text = unsafe { std::slice::from_raw_parts(err.ptr, err.len.min(err.cap)) };
        let message = String::from_utf8_lossy(text).replace('\n', " ");
        // SAFETY: the buffer came from this plugin and is freed once.
        unsafe { (self.vtable.free_buffer)(err) };
        message
    }

    fn error(&self, during: &'static str, code: i32, message: String) -> PluginError {
        let plugin = self.info.name.clone();
        if code == status::PANIC {
            PluginError::Panic { plugin, during, message }
        } else {
            PluginError::Failed { plugin, during, status: code, message }
        }
    }
}

/// What a strategy may ask of the host during a callback. The simulator
/// implements it; [`Instance`] exposes it to plugins through a [`HostApi`]
/// table of trampolines.
pub trait Host {
    /// Local time, ns.
    fn now(&self) -> i64;
    /// Number of instruments.
    fn instrument_count(&self) -> u32;
    /// Instrument facts.
    fn instrument(&self, i: u32) -> Option<InstrumentInfo>;
    /// A new order; returns its id, 0 if refused outright.
    fn submit(&mut self, req: &OrderRequest) -> u64;
    /// Cancel request; false if the id is unknown.
    fn cancel(&mut self, order_id: u64) -> bool;
    /// Cancel every open order of an instrument (`u32::MAX`: all).
    fn cancel_all(&mut self, instrument: u32);
    /// Replace request; false if the id is unknown.
    fn replace(&mut self, order_id: u64, price: i64, qty: i64) -> bool;
    /// Timer request at local time `at`.
    fn set_timer(&mut self, at: i64, token: u64);
    /// Best level of the strategy's view of the book.
    fn best(&self, instrument: u32, side: u8) -> Option<(i64, i64)>;
    /// Top-`n` depth of the strategy's view.
    fn depth(&self, instrument: u32, side: u8, n: u32) -> i64;
    /// Micro-price of the strategy's view (NaN if none).
    fn micro_price(&self, instrument: u32) -> f64;
    /// Best bid and ask and the top-`levels` depth of each side of the
    /// strategy's view in one call (`None` for an unknown instrument). The
    /// default composes [`best`](Self::best) and [`depth`](Self::depth).
    fn book_top(&self, instrument: u32, levels: u32) -> Option<BookTopInfo> {
        if instrument >= self.instrument_count() {
            return None;
        }
        let (bid, ask) = (self.best(instrument, side::BID), self.best(instrument, side::ASK));
        let depth = |s| if levels == 0 { 0 } else { self.depth(instrument, s, levels) };
        Some(BookTopInfo {
            bid_price: bid.map_or(0, |b| b.0),
            bid_qty: bid.map_or(0, |b| b.1),
            ask_price: ask.map_or(0, |a| a.0),
            ask_qty: ask.map_or(0, |a| a.1),
            bid_depth: depth(side::BID),
            ask_depth: depth(side::ASK),
            has_bid: u8::from(bid.is_some()),
            has_ask: u8::from(ask.is_some()),
            reserved: [0; 6],
        })
    }
    /// The strategy's view of its position.
    fn position(&self, instrument: u32) -> Option<PositionInfo>;
    /// Copies open orders into `out`; returns how many exist.
    fn open_orders(&self, out: &mut [OrderInfo]) -> usize;
    /// The strategy's view of its equity.
    fn equity(&self) -> f64;
    /// A log line from the strategy.
    fn log(&mut self, level: u32, msg: &str);
    /// A name for an order tag (for per-tag attribution); false if refused
    /// (empty, or longer than [`MAX_TAG_NAME`](ticktape_sdk::abi::MAX_TAG_NAME) bytes).
    fn name_tag(&mut self, tag: u64, name: &str) -> bool {
        let _ = (tag, name);
        true
    }
    /// A name for a recorded series; false if refused (as `name_tag`).
    fn name_series(&mut self, series: u32, name: &str) -> bool {
        let _ = (series, name);
        true
    }
    /// A point of a recorded series.
    fn record(&mut self, series: u32, ts: i64, value: f64) {
        let _ = (series, ts, value);
    }
    /// A named figure for the run's summary; false if refused (as `name_tag`).
    fn summary_figure(&mut self, name: &str, value: f64) -> bool {
        let _ = (name, value);
        true
    }
}

thread_local! {
    /// A panic raised by host code called from a plugin, re-raised once the
    /// plugin call returns.
    static HOST_PANIC: RefCell<Option<Box<dyn std::any::Any + Send>>> = const { RefCell::new(None) };
}

/// Runs host code called from a plugin, catching panics (they must not
/// unwind through plugin frames).
fn shield<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            HOST_PANIC.with(|h| {
                h.borrow_mut().get_or_insert(p);
            });
            fallback
        }
    }
}

/// # Safety
/// `ctx` must be the `*mut H` the host passed for this callback.
unsafe fn host<'a, H>(ctx: HostCtx) -> &'a mut H {
    // SAFETY: per the contract; the host holds no other reference to `H`
    // while the plugin runs.
    unsafe { &mut *ctx.cast::<H>() }
}

// The trampolines: `extern "C"` functions the plugin calls with the context
// pointer the host gave it. SAFETY for every `host::<H>(ctx)` below: the only
// `HostApi` tables with these functions are built by `api::<H>()` and passed
// together with a `*mut H` by `Instance` methods.
unsafe extern "C" fn t_now<H: Host>(ctx: HostCtx) -> i64 {
    // SAFETY: see the block comment above.
    shield(0, || unsafe { host::<H>(ctx) }.now())
}
unsafe extern "C" fn t_instrument_count<H: Host>(ctx: HostCtx) -> u32 {
    // SAFETY: see the block comment above.
    shield(0, || unsafe { host::<H>(ctx) }.instrument_count())
}
unsafe extern "C" fn t_instrument<H: Host>(ctx: HostCtx, i: u32, out: *mut InstrumentInfo) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: see the block comment above.
        match unsafe { host::<H>(ctx) }.instrument(i) {
            Some(info) if !out.is_null() => {
                // SAFETY: the plugin passes a valid place to write (checked non-null).
                unsafe { out.write(info) };
                status::OK
            }
            _ => status::INVALID,
        }
    })
}
unsafe extern "C" fn t_submit<H: Host>(ctx: HostCtx, req: *const OrderRequest) -> u64 {
    shield(0, || {
        // SAFETY: the plugin passes a valid request for the call (null checked).
        match unsafe { req.as_ref() } {
            // SAFETY: see the block comment above.
            Some(r) => unsafe { host::<H>(ctx) }.submit(r),
            None => 0,
        }
    })
}
unsafe extern "C" fn t_cancel<H: Host>(ctx: HostCtx, id: u64) -> i32 {
    // SAFETY: see the block comment above.
    shield(status::INVALID, || if unsafe { host::<H>(ctx) }.cancel(id) { status::OK } else { status::INVALID })
}
unsafe extern "C" fn t_cancel_all<H: Host>(ctx: HostCtx, instrument: u32) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: see the block comment above.
        unsafe { host::<H>(ctx) }.cancel_all(instrument);
        status::OK
    })
}
unsafe extern "C" fn t_replace<H: Host>(ctx: HostCtx, id: u64, price: i64, qty: i64) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: see the block comment above.
        if unsafe { host::<H>(ctx) }.replace(id, price, qty) { status::OK } else { status::INVALID }
    })
}
unsafe extern "C" fn t_set_timer<H: Host>(ctx: HostCtx, at: i64, token: u64) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: see the block comment above.
        unsafe { host::<H>(ctx) }.set_timer(at, token);
        status::OK
    })
}
unsafe extern "C" fn t_best<H: Host>(ctx: HostCtx, instrument: u32, side: u8, price: *mut i64, qty: *mut i64) -> i32 {
    shield(0, || {
        // SAFETY: see the block comment above.
        match unsafe { host::<H>(ctx) }.best(instrument, side) {
            Some((p, q)) if !price.is_null() && !qty.is_null() => {
                // SAFETY: the plugin passes valid places to write (checked non-null).
                unsafe {
                    price.write(p);
                    qty.write(q);
                }
                1
            }
            _ => 0,
        }
    })
}
unsafe extern "C" fn t_depth<H: Host>(ctx: HostCtx, instrument: u32, side: u8, n: u32) -> i64 {
    // SAFETY: see the block comment above.
    shield(0, || unsafe { host::<H>(ctx) }.depth(instrument, side, n))
}
unsafe extern "C" fn t_micro_price<H: Host>(ctx: HostCtx, instrument: u32) -> f64 {
    // SAFETY: see the block comment above.
    shield(f64::NAN, || unsafe { host::<H>(ctx) }.micro_price(instrument))
}
unsafe extern "C" fn t_position<H: Host>(ctx: HostCtx, instrument: u32, out: *mut PositionInfo) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: see the block comment above.
        match unsafe { host::<H>(ctx) }.position(instrument) {
            Some(p) if !out.is_null() => {
                // SAFETY: the plugin passes a valid place to write (checked non-null).
                unsafe { out.write(p) };
                status::OK
            }
            _ => status::INVALID,
        }
    })
}
unsafe extern "C" fn t_open_orders<H: Host>(ctx: HostCtx, out: *mut OrderInfo, cap: usize) -> usize {
    shield(0, || {
        let buf: &mut [OrderInfo] = if out.is_null() || cap == 0 {
            &mut []
        } else {
            // SAFETY: the plugin passes `cap` writable (possibly uninitialised)
            // slots; OrderInfo is plain data, so zeroing first makes the slice valid.
            unsafe {
                std::ptr::write_bytes(out, 0, cap);
                std::slice::from_raw_parts_mut(out, cap)
            }
        };
        // SAFETY: see the block comment above.
        unsafe { host::<H>(ctx) }.open_orders(buf)
    })
}
unsafe extern "C" fn t_equity<H: Host>(ctx: HostCtx) -> f64 {
    // SAFETY: see the block comment above.
    shield(f64::NAN, || unsafe { host::<H>(ctx) }.equity())
}
unsafe extern "C" fn t_log<H: Host>(ctx: HostCtx, level: u32, msg: StrRef) {
    shield((), || {
        // SAFETY: the plugin passes a string valid for the call.
        let text = unsafe { msg.as_str() };
        // SAFETY: see the block comment above.
        unsafe { host::<H>(ctx) }.log(level, &text);
    })
}

unsafe extern "C" fn t_name_tag<H: Host>(ctx: HostCtx, tag: u64, name: StrRef) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: the plugin passes a string valid for the call.
        let text = unsafe { name.as_str() };
        // SAFETY: see the block comment above.
        if unsafe { host::<H>(ctx) }.name_tag(tag, &text) { status::OK } else { status::INVALID }
    })
}

unsafe extern "C" fn t_name_series<H: Host>(ctx: HostCtx, series: u32, name: StrRef) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: the plugin passes a string valid for the call.
        let text = unsafe { name.as_str() };
        // SAFETY: see the block comment above.
        if unsafe { host::<H>(ctx) }.name_series(series, &text) { status::OK } else { status::INVALID }
    })
}
unsafe extern "C" fn t_record<H: Host>(ctx: HostCtx, series: u32, ts: i64, value: f64) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: see the block comment above.
        unsafe { host::<H>(ctx) }.record(series, ts, value);
        status::OK
    })
}

unsafe extern "C" fn t_summary_figure<H: Host>(ctx: HostCtx, name: StrRef, value: f64) -> i32 {
    shield(status::INVALID, || {
        // SAFETY: the plugin passes a string valid for the call.
        let text = unsafe { name.as_str() };
        // SAFETY: see the block comment above.
        if unsafe { host::<H>(ctx) }.summary_figure(&text, value) { status::OK } else { status::INVALID }
    })
}

unsafe extern "C" fn t_book_top<H: Host>(ctx: HostCtx, instrument: u32, levels: u32, out: *mut BookTopInfo) -> i32 {
    shield(status::INVALID, || {
        if out.is_null() {
            return status::INVALID;
        }
        // SAFETY: see the block comment above.
        let (top, code) = match unsafe { host::<H>(ctx) }.book_top(instrument, levels) {
            Some(t) => (t, status::OK),
            None => (BookTopInfo::default(), status::INVALID),
        };
        // SAFETY: the plugin passes a valid place to write (checked non-null).
        unsafe { out.write(top) };
        code
    })
}

/// The host function table for host type `H`.
pub fn api<H: Host>() -> HostApi {
    HostApi {
        size: size_of::<HostApi>(),
        now: t_now::<H>,
        instrument_count: t_instrument_count::<H>,
        instrument: t_instrument::<H>,
        submit: t_submit::<H>,
        cancel: t_cancel::<H>,
        cancel_all: t_cancel_all::<H>,
        replace: t_replace::<H>,
        set_timer: t_set_timer::<H>,
        best: t_best::<H>,
        depth: t_depth::<H>,
        micro_price: t_micro_price::<H>,
        position: t_position::<H>,
        open_orders: t_open_orders::<H>,
        equity: t_equity::<H>,
        log: t_log::<H>,
        name_tag: t_name_tag::<H>,
        name_series: t_name_series::<H>,
        record: t_record::<H>,
        summary_figure: t_summary_figure::<H>,
        book_top: t_book_top::<H>,
    }
}

/// Runs a strategy against a host: a loaded plugin ([`Instance`]) or a
/// strategy linked natively ([`Native`]). The simulator calls these; each
/// batch of events or updates shares one local time.
pub trait Driver<H: Host> {
    /// The market events the strategy wants (`subscribe` bits).
    fn subscriptions(&self) -> u32;
    /// Before the first event.
    fn start(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError>;
    /// A batch of market events.
    fn events(&mut self, api: &HostApi, host: &mut H, events: &[EventRef]) -> Result<(), PluginError>;
    /// A batch of order updates.
    fn orders(&mut self, api: &HostApi, host: &mut H, updates: &[OrderUpdate]) -> Result<(), PluginError>;
    /// A timer fired.
    fn timer(&mut self, api: &HostApi, host: &mut H, token: u64) -> Result<(), PluginError>;
    /// After the last event.
    fn finish(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError>;
}

impl<H: Host> Driver<H> for Instance {
    fn subscriptions(&self) -> u32 {
        self.plugin.subscriptions
    }
    fn start(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError> {
        self.on_start(api, host)
    }
    #[inline]
    fn events(&mut self, api: &HostApi, host: &mut H, events: &[EventRef]) -> Result<(), PluginError> {
        self.on_events(api, host, events)
    }
    fn orders(&mut self, api: &HostApi, host: &mut H, updates: &[OrderUpdate]) -> Result<(), PluginError> {
        self.on_orders(api, host, updates)
    }
    fn timer(&mut self, api: &HostApi, host: &mut H, token: u64) -> Result<(), PluginError> {
        self.on_timer(api, host, token)
    }
    fn finish(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError> {
        self.on_finish(api, host)
    }
}

/// A strategy linked into the host and called directly (no function-table
/// indirection for events): the baseline that plugin overhead is measured
/// against. Panics are not caught; use a plugin (or
/// [`Plugin::in_process`]) where a strategy may fail.
#[derive(Debug)]
pub struct Native<S>(pub S);

impl<S: ticktape_sdk::Strategy> Native<S> {
    fn with_context<H: Host>(
        &mut self,
        during: &'static str,
        api: &HostApi,
        host: &mut H,
        f: impl FnOnce(&mut S, &mut ticktape_sdk::Context<'_>),
    ) -> Result<(), PluginError> {
        let ctx: HostCtx = (host as *mut H).cast();
        // SAFETY: `api` is the table built by `api::<H>()` and `ctx` points to
        // the `H` it expects; both outlive the context, which does not
        // escape `f`. `host` is not used while the context is alive.
        let mut cx = unsafe { ticktape_sdk::Context::from_raw(api, ctx) };
        f(&mut self.0, &mut cx);
        if let Some(p) = HOST_PANIC.with(|h| h.borrow_mut().take()) {
            resume_unwind(p);
        }
        match cx.take_failure() {
            None => Ok(()),
            Some(message) => Err(PluginError::Failed {
                plugin: std::any::type_name::<S>().to_owned(),
                during,
                status: status::ERROR,
                message,
            }),
        }
    }
}

impl<H: Host, S: ticktape_sdk::Strategy> Driver<H> for Native<S> {
    fn subscriptions(&self) -> u32 {
        S::SUBSCRIBE
    }
    fn start(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError> {
        self.with_context("on_start", api, host, |s, cx| s.on_start(cx))
    }
    #[inline]
    fn events(&mut self, api: &HostApi, host: &mut H, events: &[EventRef]) -> Result<(), PluginError> {
        self.with_context("on_events", api, host, |s, cx| {
            // SAFETY: the simulator builds every event from a live tape record
            // of the event's kind.
            unsafe { ticktape_sdk::export::dispatch_events(s, cx, events) }
        })
    }
    fn orders(&mut self, api: &HostApi, host: &mut H, updates: &[OrderUpdate]) -> Result<(), PluginError> {
        self.with_context("on_orders", api, host, |s, cx| ticktape_sdk::export::dispatch_orders(s, cx, updates))
    }
    fn timer(&mut self, api: &HostApi, host: &mut H, token: u64) -> Result<(), PluginError> {
        self.with_context("on_timer", api, host, |s, cx| s.on_timer(cx, token))
    }
    fn finish(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError> {
        self.with_context("on_finish", api, host, |s, cx| s.on_finish(cx))
    }
}

/// A live strategy instance. Dropping it destroys the instance (the plugin
/// itself stays loaded).
#[derive(Debug)]
pub struct Instance {
    plugin: Plugin,
    inst: *mut c_void,
}

impl Instance {
    /// The plugin this instance belongs to.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    fn call<H: Host>(
        &mut self,
        during: &'static str,
        api: &HostApi,
        host: &mut H,
        f: impl FnOnce(&PluginVTable, *mut c_void, *const HostApi, HostCtx, *mut OwnedBuf) -> i32,
    ) -> Result<(), PluginError> {
        let mut err = OwnedBuf::empty();
        let ctx: HostCtx = (host as *mut H).cast();
        let code = f(self.plugin.vtable, self.inst, api, ctx, &mut err);
        if let Some(p) = HOST_PANIC.with(|h| h.borrow_mut().take()) {
            resume_unwind(p);
        }
        if code == status::OK {
            return Ok(());
        }
        let message = self.plugin.take_message(err);
        Err(self.plugin.error(during, code, message))
    }

    /// Calls `on_start`.
    pub fn on_start<H: Host>(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError> {
        // SAFETY: validated vtable, live instance, `api` built by `api::<H>()`
        // for the `H` behind `ctx`, `err` a valid place.
        self.call("on_start", api, host, |v, i, a, c, e| unsafe { (v.on_start)(i, a, c, e) })
    }

    /// Delivers a batch of events.
    #[inline]
    pub fn on_events<H: Host>(&mut self, api: &HostApi, host: &mut H, events: &[EventRef]) -> Result<(), PluginError> {
        // SAFETY: as in `on_start`; `events` is valid for the call and each
        // record pointer refers to a record of its kind, alive for the run.
        self.call("on_events", api, host, |v, i, a, c, e| unsafe {
            (v.on_events)(i, a, c, events.as_ptr(), events.len(), e)
        })
    }

    /// Delivers a batch of order updates.
    pub fn on_orders<H: Host>(
        &mut self,
        api: &HostApi,
        host: &mut H,
        updates: &[OrderUpdate],
    ) -> Result<(), PluginError> {
        // SAFETY: as in `on_start`; `updates` is valid for the call.
        self.call("on_orders", api, host, |v, i, a, c, e| unsafe {
            (v.on_orders)(i, a, c, updates.as_ptr(), updates.len(), e)
        })
    }

    /// Fires a timer.
    pub fn on_timer<H: Host>(&mut self, api: &HostApi, host: &mut H, token: u64) -> Result<(), PluginError> {
        // SAFETY: as in `on_start`.
        self.call("on_timer", api, host, |v, i, a, c, e| unsafe { (v.on_timer)(i, a, c, token, e) })
    }

    /// Calls `on_finish`.
    pub fn on_finish<H: Host>(&mut self, api: &HostApi, host: &mut H) -> Result<(), PluginError> {
        // SAFETY: as in `on_start`.
        self.call("on_finish", api, host, |v, i, a, c, e| unsafe { (v.on_finish)(i, a, c, e) })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: `inst` came from this plugin's `create` and is destroyed
        // once; `destroy` catches panics itself.
        unsafe { (self.plugin.vtable.destroy)(self.inst) };
    }
}
