//! Fuzz tests of every decoder that reads bytes from the network, on stable
//! Rust with `proptest`: each target runs over its committed corpus
//! (`gateway/fuzz-corpus/<target>/`, real and edge-case inputs) and then
//! over generated inputs, mostly corpus inputs mutated (bit flips, bytes
//! set, removed, inserted or duplicated, truncation, and "interesting"
//! integers such as 0, -1, `i32::MAX` and 2 GiB written over any field),
//! some plain random bytes.
//!
//! A target asserts that the decoder returns (never panics, never aborts on
//! an allocation), that its errors are its typed errors, and the invariants
//! its callers rely on (a split covers every input byte, a normalised batch
//! parses back, ...). A failing input is printed in hex, shrunk; save it
//! under the target's corpus directory so every later run checks it.
//!
//! Budget per target, from the environment:
//! - `LINKGATE_FUZZ_CASES`: generated inputs (default 2000);
//! - `LINKGATE_FUZZ_SECONDS`: wall time for them (default 3);
//! - `LINKGATE_FUZZ_SEED`: RNG seed (default fixed, so the default run is
//!   the same every time; set a new one for a longer run to explore).
//!
//! `LINKGATE_FUZZ_WRITE_CORPUS=1` rewrites the generated corpus files
//! (`gen-*`) from the encoders in each target (after a kafka-protocol or
//! format change); hand-made files are kept.

mod batches;
mod frames;
mod responses;
mod sasl;
mod state;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// How many generated inputs a target runs, and for how long at most.
#[derive(Debug, Clone, Copy)]
struct Budget {
    cases: u32,
    time: Duration,
    seed: u64,
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={value:?} is not a whole number"),
    }
}

fn budget() -> Budget {
    Budget {
        cases: env_number("LINKGATE_FUZZ_CASES")
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(2000),
        time: Duration::from_secs(env_number("LINKGATE_FUZZ_SECONDS").unwrap_or(3)),
        seed: env_number("LINKGATE_FUZZ_SEED").unwrap_or(0x6c69_6e6b_6761_7465),
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-corpus")
        .join(target)
}

/// The corpus of `target` as (file name, bytes), sorted by name. Panics
/// when the directory is missing or empty: a target without inputs would
/// pass without testing anything.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()));
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let path = e.expect("corpus entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("corpus file name is UTF-8")
                .to_string();
            let bytes = std::fs::read(&path).expect("corpus file");
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "fuzz corpus {} is empty", dir.display());
    files
}

/// With `LINKGATE_FUZZ_WRITE_CORPUS` set, replaces the `gen-*` files of
/// `target` by `generated` (names without the prefix).
fn write_generated(target: &str, generated: &[(String, Vec<u8>)]) {
    if std::env::var_os("LINKGATE_FUZZ_WRITE_CORPUS").is_none() {
        return;
    }
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("corpus entry").path();
        let is_generated = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("gen-"));
        if is_generated {
            std::fs::remove_file(&path).expect("remove old generated file");
        }
    }
    for (name, bytes) in generated {
        std::fs::write(dir.join(format!("gen-{name}")), bytes).expect("write corpus file");
    }
}

/// Integers that decoders mishandle most: lengths and counts at the edges
/// of their types. Written big-endian at 1, 2, 4 or 8 bytes.
const INTERESTING: [i64; 16] = [
    0,
    1,
    -1,
    2,
    0x7f,
    0x80,
    0xff,
    i16::MAX as i64,
    i16::MIN as i64,
    0x7fff_ffff,
    -0x8000_0000, // 2 GiB read as an i32: 0x80000000
    0x0100_0000,
    61,
    49,
    i64::MAX,
    i64::MIN,
];

/// A position drawn as any `usize`, scaled to a length as proptest's
/// `sample::Index` does (fixed-point multiply).
#[derive(Debug, Clone, Copy)]
struct Index(usize);

impl Index {
    /// `0..size`; 0 when `size` is 0.
    fn index(self, size: usize) -> usize {
        ((size as u128 * self.0 as u128) >> usize::BITS) as usize
    }
}

fn index() -> impl Strategy<Value = Index> {
    any::<usize>().prop_map(Index)
}

/// One edit of an input; positions are scaled to the input's length.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Remove(Index, u8),
    Insert(Index, Vec<u8>),
    Duplicate(Index, Index, u8),
    Truncate(Index),
    Integer(Index, u8, usize),
    /// An unsigned varint of 2^32 - 1 (five bytes), the largest a Kafka
    /// compact length can hold.
    HugeVarint(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (index(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (index(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => (index(), 1u8..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (index(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (index(), index(), 1u8..32)
            .prop_map(|(a, b, n)| Mutation::Duplicate(a, b, n)),
        1 => index().prop_map(Mutation::Truncate),
        4 => (index(), prop::sample::select(vec![1u8, 2, 4, 8]), 0..INTERESTING.len())
            .prop_map(|(i, w, v)| Mutation::Integer(i, w, v)),
        1 => index().prop_map(Mutation::HugeVarint),
    ]
}

fn apply(input: &mut Vec<u8>, m: &Mutation) {
    let len = input.len();
    let at = |i: &Index| i.index(len);
    match m {
        Mutation::FlipBit(i, bit) if len > 0 => input[at(i)] ^= 1 << bit,
        Mutation::SetByte(i, b) if len > 0 => input[at(i)] = *b,
        Mutation::Remove(i, n) if len > 0 => {
            let start = at(i);
            let end = (start + usize::from(*n)).min(len);
            input.drain(start..end);
        }
        Mutation::Insert(i, bytes) => {
            let pos = i.index(len + 1);
            input.splice(pos..pos, bytes.iter().copied());
        }
        Mutation::Duplicate(from, to, n) if len > 0 => {
            let start = at(from);
            let end = (start + usize::from(*n)).min(len);
            let chunk: Vec<u8> = input[start..end].to_vec();
            let pos = to.index(len + 1);
            input.splice(pos..pos, chunk);
        }
        Mutation::Truncate(i) => input.truncate(i.index(len + 1)),
        Mutation::Integer(i, width, v) if len > 0 => {
            let bytes = INTERESTING[*v].to_be_bytes();
            let width = usize::from(*width);
            let pos = at(i);
            let end = (pos + width).min(len);
            input[pos..end].copy_from_slice(&bytes[8 - width..8 - width + (end - pos)]);
        }
        Mutation::HugeVarint(i) => {
            let pos = i.index(len + 1);
            input.splice(pos..pos, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        }
        _ => {}
    }
}

/// Inputs made from `seeds`: mostly one seed with up to 8 mutations, some
/// random bytes (up to 512).
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty());
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..8),
    )
        .prop_map(|(mut input, mutations)| {
            for m in &mutations {
                apply(&mut input, m);
            }
            input
        });
    prop_oneof![
        9 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Runs `check` over every corpus input of `target` and then over inputs
/// from `strategy` (the [`Budget`]). Panics with the shrunk failing input.
fn run<S>(target: &str, strategy: S, check: impl Fn(&S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let budget = budget();
    let started = Instant::now();
    let deadline = started + budget.time;
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&budget.seed.to_le_bytes());
    for (i, b) in target.bytes().take(24).enumerate() {
        seed[8 + i] = b;
    }
    let config = Config {
        cases: budget.cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let ran = Cell::new(0u32);
    let failed = Cell::new(false);
    let result = runner.run(&strategy, |value| {
        // Past the deadline the remaining cases pass without running, but
        // never while a failure is being shrunk.
        if !failed.get() && Instant::now() > deadline {
            return Ok(());
        }
        ran.set(ran.get() + 1);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&value)));
        let outcome = match outcome {
            Ok(o) => o,
            Err(panic) => Err(TestCaseError::fail(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            ))),
        };
        if outcome.is_err() {
            failed.set(true);
        }
        outcome
    });
    match result {
        Ok(()) => eprintln!(
            "fuzz {target}: {} generated inputs in {:.1?} (seed {:#x})",
            ran.get(),
            started.elapsed(),
            budget.seed
        ),
        Err(TestError::Fail(reason, value)) => panic!(
            "fuzz {target} failed (seed {:#x}): {reason}\ninput: {value:?}\nsave the input under {}",
            budget.seed,
            corpus_dir(target).display()
        ),
        Err(e) => panic!("fuzz {target}: {e}"),
    }
}

/// Runs `check` on each corpus input of `target`, then on mutations of
/// them (plus `extra_seeds`, inputs made in code).
fn run_bytes(
    target: &str,
    extra_seeds: Vec<Vec<u8>>,
    check: impl Fn(&str, &[u8]) -> Result<(), TestCaseError>,
) {
    let files = corpus(target);
    for (name, bytes) in &files {
        if let Err(e) = check(name, bytes) {
            panic!("fuzz {target}: corpus file {name}: {e}");
        }
    }
    let mut seeds: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    seeds.extend(extra_seeds);
    run(target, inputs(seeds), |input| check("generated", input));
}

/// Lower-case hex of `bytes`, for messages.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn mutations_stay_in_bounds() {
    // Every mutation on every short length, including empty inputs.
    let all = [
        Mutation::FlipBit(Index(usize::MAX), 7),
        Mutation::SetByte(Index(3), 1),
        Mutation::Remove(Index(usize::MAX), 15),
        Mutation::Insert(Index(usize::MAX), vec![1, 2]),
        Mutation::Duplicate(Index(usize::MAX), Index(0), 31),
        Mutation::Truncate(Index(usize::MAX)),
        Mutation::Integer(Index(usize::MAX), 8, 10),
        Mutation::HugeVarint(Index(1)),
    ];
    for len in 0..12 {
        for m in &all {
            let mut input: Vec<u8> = (0..len).collect();
            apply(&mut input, m);
        }
    }
    let mut v = vec![0u8; 8];
    apply(&mut v, &Mutation::Integer(Index(0), 4, 10));
    assert_eq!(&v[..4], &[0x80, 0, 0, 0], "2 GiB as a big-endian i32");
    assert_eq!(hex(&[0, 0xab]), "00ab");
}
