//! Builds the bundled plugins (`plugins/` workspace: topic-filter,
//! group-filter, prefix, acl-map, record-filter, json-mask) as wasm32-wasip2
//! components and embeds them in the gateway (`linkgate::plugin::bundled`),
//! so the link properties they serve (`cluster.link.prefix`,
//! `auto.create.mirror.topics.filters`, `consumer.offset.group.filters`)
//! work without any file next to the binary.
//!
//! Needs the `wasm32-wasip2` rustup target (`rustup target add
//! wasm32-wasip2`; `tests/bin/setup.sh` installs it). The nested build uses
//! its own target directory under `OUT_DIR` and none of the outer build's
//! wrappers (clippy) or flags.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `(bundled name, cargo package, wasm file stem)`.
const BUNDLED: [(&str, &str, &str); 6] = [
    (
        "topic-filter",
        "linkgate-topic-filter",
        "linkgate_topic_filter",
    ),
    (
        "group-filter",
        "linkgate-group-filter",
        "linkgate_group_filter",
    ),
    ("prefix", "linkgate-prefix", "linkgate_prefix"),
    ("acl-map", "linkgate-acl-map", "linkgate_acl_map"),
    (
        "record-filter",
        "linkgate-record-filter",
        "linkgate_record_filter",
    ),
    ("json-mask", "linkgate-json-mask", "linkgate_json_mask"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let plugins = root.join("plugins");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for dir in [
        "Cargo.toml",
        "Cargo.lock",
        "topic-filter",
        "group-filter",
        "prefix",
        "acl-map",
        "record-filter",
        "json-mask",
    ] {
        println!("cargo:rerun-if-changed={}", plugins.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("plugin-sdk").join("src").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("plugin-sdk").join("wit").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("plugin-sdk").join("Cargo.toml").display()
    );

    let target_dir = out.join("plugins-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg("wasm32-wasip2")
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"));
    for (_, package, _) in BUNDLED {
        cmd.arg("-p").arg(package);
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir);
    // Faster gateway builds; the plugins stay small enough without LTO.
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "false");
    cmd.env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CLIPPY_ARGS",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the bundled plugins: {e}"));
    if !status.success() {
        panic!(
            "building the bundled plugins failed (see above). Is the wasm32-wasip2 target installed? \
             Run `rustup target add wasm32-wasip2` (tests/bin/setup.sh does this)."
        );
    }
    let release = target_dir.join("wasm32-wasip2").join("release");
    let mut code = String::from(
        "/// Bundled plugin components: `(bundled name, wasm bytes)`.\npub const BUNDLED: &[(&str, &[u8])] = &[\n",
    );
    for (name, _, stem) in BUNDLED {
        let file = release.join(format!("{stem}.wasm"));
        assert!(
            file.is_file(),
            "bundled plugin {} was not built",
            file.display()
        );
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path_str(&file)
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("bundled_plugins.rs"), code).expect("write bundled_plugins.rs");
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}
