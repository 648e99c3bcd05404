//! Kafka config-provider references in property values:
//! `${provider:[path:]key}`, as parsed by Kafka's
//! `org.apache.kafka.common.config.ConfigTransformer` (pattern
//! `\$\{([^}]*?):(([^}]*?):)?([^}]*?)\}`), so a secret is kept out of the
//! config file and the API request and read where the gateway runs.
//!
//! Three providers are always on (linkgate has no `config.providers`
//! property to configure them):
//!
//! | reference | Kafka class | value |
//! | --- | --- | --- |
//! | `${env:NAME}` | `EnvVarConfigProvider` (KIP-887) | the environment variable `NAME` |
//! | `${file:/path/creds.properties:key}` | `FileConfigProvider` (KIP-297) | `key` of a Java properties file |
//! | `${directory:/path:filename}` | `DirectoryConfigProvider` (KIP-632) | the whole content of `/path/filename` |
//!
//! Parsing follows `ConfigTransformer`: a reference runs from `${` to the
//! first `}` and needs a `:` inside; the provider is the text up to the first
//! `:`, the path the text up to the second `:` (if any), the key the rest
//! (which may hold more `:`). Text that does not match (a `${` with no `}`,
//! `${name}` with no `:`) is kept as is, and resolved values are not scanned
//! again (a secret containing `${` stays literal).
//!
//! Where linkgate differs from Kafka, it is stricter so that a wrong
//! reference never becomes a wrong (or empty) secret:
//! - A reference that cannot be resolved (unknown provider, missing
//!   variable, file or key) is a [`ProviderError`]; Kafka leaves the
//!   reference text in the value.
//! - Files are read only up to [`MAX_FILE_BYTES`], must be regular files
//!   (symbolic links are followed, as Kubernetes secret mounts need) and
//!   must be UTF-8; Kafka replaces invalid UTF-8 with U+FFFD.
//! - A `directory` filename must be a plain name: no `/`, not `.` or `..`
//!   (Kafka only matches names listed in the directory, which has the same
//!   effect).
//! - Any path the gateway process can read is allowed (Kafka's default when
//!   `allowed.paths` of KIP-993 is unset); a relative path is relative to
//!   the gateway's working directory, as in Kafka.
//!
//! Like Kafka, a `directory` value is the file content exactly, trailing
//! newline included (Kubernetes secret files usually have none; write files
//! with `printf` rather than `echo`), and an environment variable that is
//! set but empty resolves to the empty string.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest file (in bytes, 1 MiB) that the `file` and `directory` providers
/// read; a larger file is refused with [`ProviderErrorKind::TooLarge`].
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A reference in a property value that could not be resolved. Names the
/// property and the reference text (e.g. `${env:KAFKA_PASSWORD}`), never
/// a resolved value or any file content.
#[derive(Debug, thiserror::Error)]
#[error("property `{property}`: cannot resolve `{reference}`: {kind}")]
pub struct ProviderError {
    /// Name of the property whose value holds the reference.
    pub property: String,
    /// The reference as written, `${provider:[path:]key}`.
    pub reference: String,
    /// What is wrong with it and how to fix it.
    pub kind: ProviderErrorKind,
}

/// Why a reference could not be resolved (see [`ProviderError`]). Each
/// message says what is wrong and what to change.
#[derive(Debug, thiserror::Error)]
pub enum ProviderErrorKind {
    /// The provider name is not `env`, `file` or `directory`.
    #[error(
        "unknown config provider `{provider}`: linkgate has `env` (${{env:NAME}}), \
         `file` (${{file:/path/file.properties:key}}) and `directory` (${{directory:/path:filename}})"
    )]
    UnknownProvider {
        /// The provider name as written.
        provider: String,
    },
    /// `${env:path:NAME}`: the `env` provider takes no path
    /// (`EnvVarConfigProvider` refuses one too).
    #[error("the env provider takes no path: write ${{env:NAME}}")]
    EnvPathGiven,
    /// The variable name is empty or holds `=` or NUL, which no environment
    /// variable name can.
    #[error("`{name}` is not an environment variable name: write ${{env:NAME}}")]
    BadEnvName {
        /// The name as written.
        name: String,
    },
    /// The environment variable is not set in the gateway's environment.
    #[error("environment variable `{name}` is not set: set it in the gateway's environment")]
    EnvNotSet {
        /// The variable name.
        name: String,
    },
    /// The environment variable's value is not valid Unicode.
    #[error("environment variable `{name}` is not valid Unicode: set it to UTF-8 text")]
    EnvNotUnicode {
        /// The variable name.
        name: String,
    },
    /// `${file:key}` or `${directory:filename}`: the provider needs a path.
    #[error("the {provider} provider needs a path: write {example}")]
    PathMissing {
        /// `file` or `directory`.
        provider: &'static str,
        /// The reference's shape for that provider.
        example: &'static str,
    },
    /// The `directory` filename is empty, `.`, `..` or holds `/` or NUL.
    #[error(
        "`{filename}` is not a plain file name: write ${{directory:/path:filename}} \
         with a filename inside the directory (no `/`, not `.` or `..`)"
    )]
    BadFilename {
        /// The filename as written.
        filename: String,
    },
    /// The `directory` path does not exist or is not a directory.
    #[error("{path} is not a directory: give the directory holding the secret files")]
    NotADirectory {
        /// The directory path.
        path: PathBuf,
    },
    /// The file does not exist (or a symbolic link to it is dangling).
    #[error("file {path} does not exist: create it or correct the path")]
    FileNotFound {
        /// The file path.
        path: PathBuf,
    },
    /// The path is not a regular file (a directory, a FIFO, a device).
    #[error("{path} is not a regular file: point the reference at a file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file could not be read (permissions, I/O error).
    #[error("cannot read {path}: {source}: make it readable by the gateway's user")]
    Read {
        /// The file path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path} is larger than {limit} bytes: a secret file must be smaller")]
    TooLarge {
        /// The file path.
        path: PathBuf,
        /// The limit, [`MAX_FILE_BYTES`].
        limit: u64,
    },
    /// The file is not valid UTF-8.
    #[error("{path} is not UTF-8 text: save it as UTF-8")]
    NotUtf8 {
        /// The file path.
        path: PathBuf,
    },
    /// The `file` provider's file is not a Java properties file (e.g. a bad
    /// `\u` escape). Gives the line number, never the line.
    #[error("{path} is not a Java properties file ({}): fix that line", line_text(.line))]
    Malformed {
        /// The file path.
        path: PathBuf,
        /// 1-based line of the error, if known.
        line: Option<usize>,
    },
    /// The properties file has no such key.
    #[error("{path} has no key `{key}`: add `{key}=...` to it or correct the key")]
    KeyMissing {
        /// The file path.
        path: PathBuf,
        /// The key as written.
        key: String,
    },
}

fn line_text(line: &Option<usize>) -> String {
    match line {
        Some(n) => format!("line {n}"),
        None => "unknown line".to_string(),
    }
}

/// `value` with every config-provider reference replaced by what it refers
/// to; literal text around and between references is kept, and a value
/// without references is returned unchanged. `property` is the property's
/// name, used only in errors.
///
/// # Errors
/// [`ProviderError`] for the first reference that cannot be resolved: an
/// unknown provider, an unset environment variable, a missing, unreadable,
/// non-UTF-8 or too large file, a missing key, a filename that leaves its
/// directory. A reference never resolves to an empty value by mistake.
pub fn resolve(property: &str, value: &str) -> Result<String, ProviderError> {
    resolve_with(property, value, &|name| std::env::var_os(name))
}

/// Whether `value` holds at least one `${provider:[path:]key}` reference,
/// i.e. whether [`resolve`] would replace anything. Does not check that the
/// reference resolves.
pub fn has_reference(value: &str) -> bool {
    next_reference(value, 0).is_some()
}

/// [`resolve`] reading environment variables through `env`.
fn resolve_with(
    property: &str,
    value: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<String, ProviderError> {
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    while let Some(r) = next_reference(value, copied) {
        out.push_str(value.get(copied..r.start).unwrap_or_default());
        let resolved = lookup(&r, env).map_err(|kind| ProviderError {
            property: property.to_string(),
            reference: r.text.to_string(),
            kind,
        })?;
        out.push_str(&resolved);
        copied = r.end;
    }
    out.push_str(value.get(copied..).unwrap_or_default());
    Ok(out)
}

/// One `${provider:[path:]key}` occurrence: byte range and parts.
struct Reference<'a> {
    start: usize,
    end: usize,
    text: &'a str,
    provider: &'a str,
    /// `None` when absent or empty (Kafka's `EMPTY_PATH`).
    path: Option<&'a str>,
    key: &'a str,
}

/// The first reference starting at or after byte `from`, matched as
/// `ConfigTransformer`'s pattern does.
fn next_reference(value: &str, from: usize) -> Option<Reference<'_>> {
    let mut at = from;
    loop {
        let start = at + value.get(at..)?.find("${")?;
        let inner_start = start + 2;
        // No `}` after this `${` means none after any later `${` either.
        let close = inner_start + value.get(inner_start..)?.find('}')?;
        let inner = value.get(inner_start..close)?;
        if let Some((provider, rest)) = inner.split_once(':') {
            let (path, key) = match rest.split_once(':') {
                Some((path, key)) => (Some(path).filter(|p| !p.is_empty()), key),
                None => (None, rest),
            };
            return Some(Reference {
                start,
                end: close + 1,
                text: value.get(start..close + 1)?,
                provider,
                path,
                key,
            });
        }
        // No `:` before the `}`: neither this `${` nor any inside it matches.
        at = close + 1;
    }
}

fn lookup(
    r: &Reference<'_>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<String, ProviderErrorKind> {
    match r.provider {
        "env" => env_value(r, env),
        "file" => file_value(r),
        "directory" => directory_value(r),
        other => Err(ProviderErrorKind::UnknownProvider {
            provider: other.to_string(),
        }),
    }
}

/// `EnvVarConfigProvider`: the variable named by the key.
fn env_value(
    r: &Reference<'_>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<String, ProviderErrorKind> {
    if r.path.is_some() {
        return Err(ProviderErrorKind::EnvPathGiven);
    }
    let name = r.key;
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(ProviderErrorKind::BadEnvName {
            name: name.to_string(),
        });
    }
    match env(name) {
        None => Err(ProviderErrorKind::EnvNotSet {
            name: name.to_string(),
        }),
        Some(v) => v
            .into_string()
            .map_err(|_| ProviderErrorKind::EnvNotUnicode {
                name: name.to_string(),
            }),
    }
}

/// `FileConfigProvider`: `key` of the Java properties file at the path,
/// read as UTF-8; a key given twice has its last value, as
/// `java.util.Properties` keeps.
fn file_value(r: &Reference<'_>) -> Result<String, ProviderErrorKind> {
    let path = Path::new(r.path.ok_or(ProviderErrorKind::PathMissing {
        provider: "file",
        example: "${file:/path/file.properties:key}",
    })?);
    let text = read_bounded(path)?;
    let mut found = None;
    java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8)
        .read_into(|k, v| {
            if k == r.key {
                found = Some(v);
            }
        })
        .map_err(|e| ProviderErrorKind::Malformed {
            path: path.to_path_buf(),
            line: e.line_number(),
        })?;
    found.ok_or_else(|| ProviderErrorKind::KeyMissing {
        path: path.to_path_buf(),
        key: r.key.to_string(),
    })
}

/// `DirectoryConfigProvider`: the whole content of `filename` in the
/// directory, unchanged (no newline trimmed, as Kafka).
fn directory_value(r: &Reference<'_>) -> Result<String, ProviderErrorKind> {
    let dir = Path::new(r.path.ok_or(ProviderErrorKind::PathMissing {
        provider: "directory",
        example: "${directory:/path:filename}",
    })?);
    let filename = r.key;
    if filename.is_empty() || filename == "." || filename == ".." || filename.contains(['/', '\0'])
    {
        return Err(ProviderErrorKind::BadFilename {
            filename: filename.to_string(),
        });
    }
    if !dir.is_dir() {
        return Err(ProviderErrorKind::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    read_bounded(&dir.join(filename))
}

/// The UTF-8 content of the regular file at `path`, refused past
/// [`MAX_FILE_BYTES`] (checked before reading and while reading, so a file
/// that grows meanwhile is refused too).
fn read_bounded(path: &Path) -> Result<String, ProviderErrorKind> {
    let io_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => ProviderErrorKind::FileNotFound {
            path: path.to_path_buf(),
        },
        _ => ProviderErrorKind::Read {
            path: path.to_path_buf(),
            source,
        },
    };
    let too_large = || ProviderErrorKind::TooLarge {
        path: path.to_path_buf(),
        limit: MAX_FILE_BYTES,
    };
    // Checked before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(io_error)?;
    if !meta.is_file() {
        return Err(ProviderErrorKind::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| ProviderErrorKind::NotUtf8 {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Resolves with a fixed environment instead of the process's.
    fn with_env(value: &str, vars: &[(&str, &str)]) -> Result<String, ProviderError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        resolve_with("sasl.jaas.config", value, &|name| vars.get(name).cloned())
    }

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn parses_like_config_transformer() {
        let r = next_reference("x${file:/a/b:k:with:colons}y", 0).unwrap();
        assert_eq!((r.start, r.end), (1, 27));
        assert_eq!(r.text, "${file:/a/b:k:with:colons}");
        assert_eq!(
            (r.provider, r.path, r.key),
            ("file", Some("/a/b"), "k:with:colons")
        );

        let r = next_reference("${env:NAME}", 0).unwrap();
        assert_eq!((r.provider, r.path, r.key), ("env", None, "NAME"));

        // An empty path is Kafka's EMPTY_PATH.
        let r = next_reference("${env::NAME}", 0).unwrap();
        assert_eq!((r.provider, r.path, r.key), ("env", None, "NAME"));

        // `${` without `:` before its `}` does not match; a later one can.
        let r = next_reference("${plain} ${env:X}", 0).unwrap();
        assert_eq!(r.text, "${env:X}");

        // The provider group runs to the first `:` even across a `${`.
        let r = next_reference("${a${env:X}", 0).unwrap();
        assert_eq!(r.provider, "a${env");
    }

    #[test]
    fn text_without_references_is_unchanged() {
        for v in [
            "",
            "plain",
            "price: $5 {not a ref}",
            "abc${env:X",
            "${",
            "${}",
            "${no_colon}",
            "}${:",
            "ünïcödé ${ ☃",
        ] {
            assert!(!has_reference(v), "{v}");
            assert_eq!(with_env(v, &[]).unwrap(), v);
        }
        assert!(has_reference("a ${env:X} b"));
        assert!(has_reference("${nope:x}"));
    }

    #[test]
    fn env_provider() {
        assert_eq!(
            with_env("${env:PW}", &[("PW", "hunter2")]).unwrap(),
            "hunter2"
        );
        // Set but empty resolves to empty, as EnvVarConfigProvider does.
        assert_eq!(with_env("${env:EMPTY}", &[("EMPTY", "")]).unwrap(), "");
        // The real process environment.
        if let Ok(path) = std::env::var("PATH") {
            assert_eq!(resolve("p", "${env:PATH}").unwrap(), path);
        }
    }

    #[test]
    fn env_errors() {
        let e = with_env("x ${env:LINKGATE_UNSET_VAR} y", &[]).unwrap_err();
        assert!(
            matches!(&e.kind, ProviderErrorKind::EnvNotSet { name } if name == "LINKGATE_UNSET_VAR")
        );
        assert_eq!(e.property, "sasl.jaas.config");
        assert_eq!(e.reference, "${env:LINKGATE_UNSET_VAR}");
        let msg = e.to_string();
        assert!(
            msg.contains("sasl.jaas.config") && msg.contains("${env:LINKGATE_UNSET_VAR}"),
            "{msg}"
        );

        let e = with_env("${env:some/path:PW}", &[("PW", "x")]).unwrap_err();
        assert!(matches!(e.kind, ProviderErrorKind::EnvPathGiven), "{e}");
        for bad in ["${env:}", "${env:A=B}", "${env:A\0B}"] {
            let e = with_env(bad, &[]).unwrap_err();
            assert!(
                matches!(e.kind, ProviderErrorKind::BadEnvName { .. }),
                "{e}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn env_not_unicode() {
        use std::os::unix::ffi::OsStringExt;
        let e = resolve_with("p", "${env:BIN}", &|_| {
            Some(OsString::from_vec(vec![0xff, 0xfe]))
        })
        .unwrap_err();
        assert!(
            matches!(e.kind, ProviderErrorKind::EnvNotUnicode { .. }),
            "{e}"
        );
    }

    #[test]
    fn file_provider() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "creds.properties",
            "# comment\n\
             username = alice\n\
             password=s3cr:et=x\n\
             name=h\u{e9}llo \u{2603} \u{1f980}\n\
             escaped=caf\\u00e9\\tx\n\
             long=one \\\n    two\n\
             twice=first\n\
             twice=last\n"
                .as_bytes(),
        );
        let p = path.display();
        let get = |key: &str| resolve("p", &format!("${{file:{p}:{key}}}")).unwrap();
        assert_eq!(get("username"), "alice");
        assert_eq!(get("password"), "s3cr:et=x");
        assert_eq!(get("name"), "h\u{e9}llo \u{2603} \u{1f980}");
        assert_eq!(get("escaped"), "caf\u{e9}\tx");
        assert_eq!(get("long"), "one two");
        assert_eq!(get("twice"), "last");
    }

    #[test]
    fn file_errors_name_the_reference_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "creds.properties", b"password=topsecret\n");
        let p = path.display();

        let reference = format!("${{file:{p}:pasword}}");
        let e = resolve("ssl.key.password", &reference).unwrap_err();
        assert!(
            matches!(&e.kind, ProviderErrorKind::KeyMissing { key, .. } if key == "pasword"),
            "{e}"
        );
        assert_eq!(e.reference, reference);
        assert!(!e.to_string().contains("topsecret"));
        assert!(!format!("{e:?}").contains("topsecret"));

        let e = resolve(
            "p",
            &format!("${{file:{}:k}}", dir.path().join("nope").display()),
        )
        .unwrap_err();
        assert!(
            matches!(e.kind, ProviderErrorKind::FileNotFound { .. }),
            "{e}"
        );

        let e = resolve("p", "${file:password}").unwrap_err();
        assert!(
            matches!(
                e.kind,
                ProviderErrorKind::PathMissing {
                    provider: "file",
                    ..
                }
            ),
            "{e}"
        );

        let e = resolve("p", &format!("${{file:{}:k}}", dir.path().display())).unwrap_err();
        assert!(matches!(e.kind, ProviderErrorKind::NotAFile { .. }), "{e}");

        let bad = write(
            dir.path(),
            "bad.properties",
            b"password=topsecret\nx=\\uZZZZ\n",
        );
        let e = resolve("p", &format!("${{file:{}:password}}", bad.display())).unwrap_err();
        assert!(
            matches!(e.kind, ProviderErrorKind::Malformed { line: Some(2), .. }),
            "{e}"
        );
        assert!(
            !e.to_string().contains("topsecret") && !e.to_string().contains("ZZZZ"),
            "{e}"
        );

        let latin1 = write(dir.path(), "latin1.properties", b"password=caf\xe9\n");
        let e = resolve("p", &format!("${{file:{}:password}}", latin1.display())).unwrap_err();
        assert!(matches!(e.kind, ProviderErrorKind::NotUtf8 { .. }), "{e}");
    }

    #[test]
    fn directory_provider_keeps_content_as_is() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "password", b"p@ss\n");
        write(dir.path(), "token", b"  tok en  ");
        write(dir.path(), "odd:name", b"colon");
        let d = dir.path().display();
        assert_eq!(
            resolve("p", &format!("${{directory:{d}:password}}")).unwrap(),
            "p@ss\n"
        );
        assert_eq!(
            resolve("p", &format!("${{directory:{d}:token}}")).unwrap(),
            "  tok en  "
        );
        // The key is everything after the path, colons included.
        assert_eq!(
            resolve("p", &format!("${{directory:{d}:odd:name}}")).unwrap(),
            "colon"
        );
    }

    #[cfg(unix)]
    #[test]
    fn directory_follows_symlinks_like_kubernetes_mounts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("..data")).unwrap();
        write(&dir.path().join("..data"), "password", b"mounted");
        std::os::unix::fs::symlink("..data/password", dir.path().join("password")).unwrap();
        let d = dir.path().display();
        assert_eq!(
            resolve("p", &format!("${{directory:{d}:password}}")).unwrap(),
            "mounted"
        );
    }

    #[test]
    fn directory_refuses_traversal_and_missing_items() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "outside", b"not yours");
        let dir = root.path().join("secrets");
        std::fs::create_dir(&dir).unwrap();
        let d = dir.display();
        for name in ["..", ".", "../outside", "sub/file", "/etc/passwd", ""] {
            let e = resolve("p", &format!("${{directory:{d}:{name}}}")).unwrap_err();
            assert!(
                matches!(e.kind, ProviderErrorKind::BadFilename { .. }),
                "{name}: {e}"
            );
            assert!(!e.to_string().contains("not yours"));
        }

        let e = resolve("p", &format!("${{directory:{d}:missing}}")).unwrap_err();
        assert!(
            matches!(e.kind, ProviderErrorKind::FileNotFound { .. }),
            "{e}"
        );

        let e = resolve(
            "p",
            &format!("${{directory:{}:x}}", root.path().join("nodir").display()),
        )
        .unwrap_err();
        assert!(
            matches!(e.kind, ProviderErrorKind::NotADirectory { .. }),
            "{e}"
        );

        let e = resolve("p", "${directory:password}").unwrap_err();
        assert!(
            matches!(
                e.kind,
                ProviderErrorKind::PathMissing {
                    provider: "directory",
                    ..
                }
            ),
            "{e}"
        );

        std::fs::create_dir(dir.join("subdir")).unwrap();
        let e = resolve("p", &format!("${{directory:{d}:subdir}}")).unwrap_err();
        assert!(matches!(e.kind, ProviderErrorKind::NotAFile { .. }), "{e}");
    }

    #[test]
    fn large_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limit = usize::try_from(MAX_FILE_BYTES).unwrap();
        write(dir.path(), "at_limit", &vec![b'a'; limit]);
        write(dir.path(), "over_limit", &vec![b'a'; limit + 1]);
        let d = dir.path().display();
        assert_eq!(
            resolve("p", &format!("${{directory:{d}:at_limit}}"))
                .unwrap()
                .len(),
            limit
        );
        let e = resolve("p", &format!("${{directory:{d}:over_limit}}")).unwrap_err();
        assert!(
            matches!(
                e.kind,
                ProviderErrorKind::TooLarge {
                    limit: MAX_FILE_BYTES,
                    ..
                }
            ),
            "{e}"
        );

        let mut big = b"password=x\n".to_vec();
        big.resize(limit + 10, b'#');
        let path = write(dir.path(), "big.properties", &big);
        let e = resolve("p", &format!("${{file:{}:password}}", path.display())).unwrap_err();
        assert!(matches!(e.kind, ProviderErrorKind::TooLarge { .. }), "{e}");
    }

    #[test]
    fn several_references_with_literal_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "c.properties", b"password=p\\u00e4ss\n");
        let value = format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"${{env:USER_NAME}}\" password=\"${{file:{}:password}}\"; \u{e9}${{env:USER_NAME}}\u{fc}",
            path.display()
        );
        assert_eq!(
            with_env(&value, &[("USER_NAME", "alice")]).unwrap(),
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"alice\" password=\"p\u{e4}ss\"; \u{e9}alice\u{fc}"
        );
        // The first failing reference is reported.
        let e = with_env("${env:A}${env:B}", &[("A", "a")]).unwrap_err();
        assert_eq!(e.reference, "${env:B}");
    }

    #[test]
    fn resolved_values_are_not_scanned_again() {
        let out = with_env("${env:A}", &[("A", "${env:B}"), ("B", "no")]).unwrap();
        assert_eq!(out, "${env:B}");
    }

    #[test]
    fn unknown_provider_is_an_error() {
        for (value, provider) in [
            ("${vault:secret/kafka:password}", "vault"),
            ("${:x}", ""),
            ("${ENV:X}", "ENV"),
        ] {
            let e = with_env(value, &[("X", "x")]).unwrap_err();
            assert!(
                matches!(&e.kind, ProviderErrorKind::UnknownProvider { provider: p } if p == provider),
                "{value}: {e}"
            );
            assert_eq!(e.reference, value);
        }
    }
}
