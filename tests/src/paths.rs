//! Where the test binaries live: the nisshi broker installed by
//! `tests/bin/setup.sh` and the `linkgate` binary built by cargo.
//!
//! Both lookups panic with an instruction when the binary is missing: an
//! end-to-end test must fail loudly, never skip.

use std::path::PathBuf;

/// Environment variable naming the nisshi binary explicitly (set by `tests/bin/test.sh`).
pub const NISSHI_ENV: &str = "LINKGATE_NISSHI";
/// Environment variable naming the cache directory used by `tests/bin/setup.sh`.
pub const CACHE_DIR_ENV: &str = "LINKGATE_CACHE_DIR";
/// Environment variable naming the `linkgate` binary explicitly (optional override).
pub const GATEWAY_ENV: &str = "LINKGATE_BIN";

/// The cache directory of `tests/bin/setup.sh`: `$LINKGATE_CACHE_DIR`, else
/// `$HOME/.cache/linkgate`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("linkgate")
}

/// Path of the nisshi broker binary: `$LINKGATE_NISSHI`, else
/// `<cache_dir()>/nisshi/bin/nisshi`.
///
/// # Panics
/// When the file does not exist, with the instruction to run `tests/bin/setup.sh`.
pub fn nisshi_bin() -> PathBuf {
    let path = match std::env::var_os(NISSHI_ENV).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => cache_dir().join("nisshi").join("bin").join("nisshi"),
    };
    assert!(
        path.is_file(),
        "nisshi broker not found at {}: run tests/bin/setup.sh (or set {NISSHI_ENV})",
        path.display()
    );
    path
}

/// Path of the built `linkgate` binary in the workspace target directory:
/// `$LINKGATE_BIN` if set, else derived from the running test executable
/// (`<target>/<profile>/deps/<test>-<hash>` -> `<target>/<profile>/linkgate`), which
/// follows `CARGO_TARGET_DIR` and the build profile automatically.
///
/// # Panics
/// When the binary is missing, with the instruction `run cargo build -p linkgate`.
pub fn gateway_bin() -> PathBuf {
    let path = match std::env::var_os(GATEWAY_ENV).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => profile_dir().join(format!("linkgate{}", std::env::consts::EXE_SUFFIX)),
    };
    assert!(
        path.is_file(),
        "linkgate binary not found at {}: run cargo build -p linkgate (tests/bin/test.sh does)",
        path.display()
    );
    path
}

/// `<target>/<profile>` of the running executable: the parent of `deps/` for a
/// test binary, else the executable's own directory.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}
