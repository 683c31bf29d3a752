//! A clear error instead of a SIGBUS death when a mapped tape is truncated.
//!
//! Reading a page of a memory map beyond the end of a file that another
//! program shortened raises SIGBUS, which kills the process without a word.
//! On Linux, the first [`Tape`](crate::Tape) opened installs a SIGBUS handler
//! (`sigaction` with `SA_SIGINFO`). Every open tape records its path and the
//! address range of its map in a fixed static table before any record is
//! read. The handler looks the faulting address up in the table and, if it
//! lies in a tape, writes one preformatted line to stderr with `write(2)`,
//!
//! ```text
//! error: tape PATH was truncated while mapped (fault at byte offset N); ...
//! ```
//!
//! and ends the process with `_exit(1)`: only async-signal-safe calls, no
//! allocation, no lock. A fault anywhere else goes to the handler that was
//! installed before (Rust's stack-overflow handler, or the default action).
//!
//! The table has [`SLOTS`] entries; a tape opened while all are taken works
//! as before but without the message. On other systems there is no handler.

/// Maximum number of tapes mapped at once that the handler can name.
pub const SLOTS: usize = 1024;

/// A tape's entry in the table, freed when the tape is dropped.
#[derive(Debug)]
pub(crate) struct Guard {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    slot: Option<usize>,
}

impl Guard {
    /// Registers the map `[base, base + len)` of the tape at `path`.
    pub(crate) fn register(path: &std::path::Path, base: *const u8, len: usize) -> Self {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            Guard { slot: imp::register(path, base as usize, len) }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (path, base, len);
            Guard {}
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(slot) = self.slot {
            imp::unregister(slot);
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::Once;
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

    use super::SLOTS;

    const FREE: u8 = 0;
    const BUSY: u8 = 1;
    const LIVE: u8 = 2;
    const PATH_BYTES: usize = 480;

    struct Slot {
        state: AtomicU8,
        base: AtomicUsize,
        len: AtomicUsize,
        path_len: AtomicUsize,
        path: UnsafeCell<[u8; PATH_BYTES]>,
    }

    // SAFETY: `path` is written only by the thread that moved `state` from
    // FREE to BUSY, and read only after `state` is LIVE (release/acquire).
    unsafe impl Sync for Slot {}

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        state: AtomicU8::new(FREE),
        base: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        path_len: AtomicUsize::new(0),
        path: UnsafeCell::new([0; PATH_BYTES]),
    };

    static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

    struct Prev(UnsafeCell<MaybeUninit<libc::sigaction>>);
    // SAFETY: written once inside `INSTALL` before the handler is installed,
    // read only by the handler afterwards.
    unsafe impl Sync for Prev {}
    static PREV: Prev = Prev(UnsafeCell::new(MaybeUninit::uninit()));
    static INSTALL: Once = Once::new();

    pub(super) fn register(path: &Path, base: usize, len: usize) -> Option<usize> {
        INSTALL.call_once(install);
        let slot = TABLE
            .iter()
            .position(|s| s.state.compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok())?;
        let s = &TABLE[slot];
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: this thread owns the slot (it moved it to BUSY); the handler
        // reads `path` only when the state is LIVE.
        let buf = unsafe { &mut *s.path.get() };
        let n = if bytes.len() <= PATH_BYTES {
            buf[..bytes.len()].copy_from_slice(bytes);
            bytes.len()
        } else {
            // Keep the end of a long path, which names the file.
            buf[..3].copy_from_slice(b"...");
            buf[3..].copy_from_slice(&bytes[bytes.len() - (PATH_BYTES - 3)..]);
            PATH_BYTES
        };
        s.path_len.store(n, Ordering::Relaxed);
        s.base.store(base, Ordering::Relaxed);
        s.len.store(len, Ordering::Relaxed);
        s.state.store(LIVE, Ordering::Release);
        Some(slot)
    }

    pub(super) fn unregister(slot: usize) {
        TABLE[slot].state.store(FREE, Ordering::Release);
    }

    fn install() {
        // SAFETY: plain libc calls on a zeroed, then filled-in `sigaction`;
        // `PREV` is written before our handler can run (it is installed by
        // the second call), and never again.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            let prev = (*PREV.0.get()).as_mut_ptr();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), prev) != 0 {
                return;
            }
            libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut());
        }
    }

    /// Appends `bytes` to `buf` at `*at`, as far as it fits.
    fn put(buf: &mut [u8], at: &mut usize, bytes: &[u8]) {
        let n = bytes.len().min(buf.len() - *at);
        buf[*at..*at + n].copy_from_slice(&bytes[..n]);
        *at += n;
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as usize;
        for s in &TABLE {
            if s.state.load(Ordering::Acquire) != LIVE {
                continue;
            }
            let (base, len) = (s.base.load(Ordering::Relaxed), s.len.load(Ordering::Relaxed));
            if addr < base || addr - base >= len {
                continue;
            }
            let mut buf = [0u8; 1024];
            let mut at = 0;
            put(&mut buf, &mut at, b"error: tape ");
            // SAFETY: the slot is LIVE, so its path is complete and unchanged.
            let path = unsafe { &*s.path.get() };
            put(&mut buf, &mut at, &path[..s.path_len.load(Ordering::Relaxed).min(PATH_BYTES)]);
            put(&mut buf, &mut at, b" was truncated while mapped (fault at byte offset ");
            let mut digits = [0u8; 20];
            let mut n = addr - base;
            let mut d = digits.len();
            loop {
                d -= 1;
                digits[d] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            put(&mut buf, &mut at, &digits[d..]);
            put(
                &mut buf,
                &mut at,
                b"); another program shortened the file while ticktape read it: restore or re-create the tape, and do not modify tapes during a run\n",
            );
            // SAFETY: write(2) and _exit(2) are async-signal-safe; `buf` is a
            // valid stack buffer of `at` bytes.
            unsafe {
                libc::write(2, buf.as_ptr().cast(), at);
                libc::_exit(1);
            }
        }
        // Not a tape: hand the fault to whoever handled SIGBUS before.
        // SAFETY: `PREV` was filled in before this handler was installed.
        unsafe {
            let prev = &*(*PREV.0.get()).as_ptr();
            let h = prev.sa_sigaction;
            if h == libc::SIG_DFL || h == libc::SIG_IGN {
                // Restore the default action; returning re-executes the
                // faulting access, which then ends the process as before.
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(h);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
                f(sig);
            }
        }
    }
}
