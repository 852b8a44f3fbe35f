//! Manifests: the register as YAML files kept in git ("privacy as code").
//!
//! A register is one file or many; each file has `version: 1` and any of the sections
//! `organisations`, `activities`, `contracts`, `engagements`. Every error names the file, the
//! line and the column, and says what was expected; unknown keys and dangling ids are errors;
//! nothing is accepted when any file is invalid. The format is documented in
//! `docs/manifest.md` and described by the JSON Schema of [`json_schema`].

use std::collections::HashMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::model::{Activity, Contract, Engagement, Organisation};
use crate::register::{EntityKind, Register, RegisterParts};
use crate::values::Slug;

/// The manifest format version this build reads and writes.
pub const VERSION: u32 = 1;

/// Largest manifest file accepted, so a mistaken path cannot exhaust memory.
pub const MAX_FILE_BYTES: usize = 512 * 1024 * 1024;

/// One manifest file's name (as shown in errors) and text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// A place in a manifest file; lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestError {
    pub location: SourceLocation,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The whole manifest as written by `custos export` and described by `custos schema`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Custos register manifest")]
pub struct Manifest<'a> {
    /// Format version; must be 1.
    pub version: u32,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub organisations: &'a [Organisation],
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub activities: &'a [Activity],
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub contracts: &'a [Contract],
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub engagements: &'a [Engagement],
}

/// What a file holds, with where each entry starts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    version: Spanned<u32>,
    #[serde(default)]
    organisations: Vec<Spanned<Organisation>>,
    #[serde(default)]
    activities: Vec<Spanned<Activity>>,
    #[serde(default)]
    contracts: Vec<Spanned<Contract>>,
    #[serde(default)]
    engagements: Vec<Spanned<Engagement>>,
}

/// Parses and validates a register from its files. Files are parsed in parallel; every error
/// of every file is reported, located.
pub fn parse(sources: &[Source]) -> Result<Register, Vec<ManifestError>> {
    parse_with_origins(sources).map(|(register, _)| register)
}

/// Where each entry of a parsed register starts, to point findings at their manifest line.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<String>,
    /// The first definition of each (kind, id), keyed by [`entry_key`].
    places: HashMap<u64, Position>,
}

impl SourceMap {
    pub fn locate(&self, kind: EntityKind, id: &str) -> Option<SourceLocation> {
        let place = self.places.get(&entry_key_str(kind, id))?;
        Some(SourceLocation {
            file: self.files.get(place.file as usize)?.clone(),
            line: place.line,
            column: place.column,
        })
    }
}

/// Like [`parse`], and also where each entry starts.
pub fn parse_located(sources: &[Source]) -> Result<(Register, SourceMap), Vec<ManifestError>> {
    let (register, origins) = parse_with_origins(sources)?;
    let mut places = HashMap::with_capacity(origins.len());
    for (key, position) in origins {
        places.entry(key).or_insert(position);
    }
    let files = sources.iter().map(|s| s.name.clone()).collect();
    Ok((register, SourceMap { files, places }))
}

/// The hash of an entry's (kind, id) and where the entry starts.
type Origin = (u64, Position);

/// The register and, in the order of its entries, where each entry starts.
fn parse_with_origins(sources: &[Source]) -> Result<(Register, Vec<Origin>), Vec<ManifestError>> {
    let parsed = parse_files(sources);
    let mut parts = RegisterParts::default();
    // Where each entry starts, in the order of `parts`, keyed by a hash of (kind, id): ids are
    // only looked up when there is an error to locate, so none is copied here.
    let mut origins: Vec<Origin> = Vec::new();
    let mut errors = Vec::new();
    for (file, result) in parsed.into_iter().enumerate() {
        let file_index = file as u32;
        let manifest = match result {
            Ok(manifest) => manifest,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let position = |location: &serde_saphyr::Location| Position {
            file: file_index,
            line: location.line(),
            column: location.column(),
        };
        if manifest.version.value != VERSION {
            errors.push(ManifestError {
                location: position(&manifest.version.referenced).resolve(sources),
                message: format!(
                    "version {} is not supported: expected version: {VERSION}",
                    manifest.version.value
                ),
            });
            continue;
        }
        macro_rules! take {
            ($section:ident, $kind:expr) => {
                origins.reserve(manifest.$section.len());
                parts.$section.reserve(manifest.$section.len());
                for entry in manifest.$section {
                    origins.push((
                        entry_key($kind, &entry.value.id),
                        position(&entry.referenced),
                    ));
                    parts.$section.push(entry.value);
                }
            };
        }
        take!(organisations, EntityKind::Organisation);
        take!(activities, EntityKind::Activity);
        take!(contracts, EntityKind::Contract);
        take!(engagements, EntityKind::Engagement);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let register = Register::new(parts).map_err(|problems| locate(problems, &origins, sources))?;
    Ok((register, origins))
}

/// A place in a file, by index into the sources.
#[derive(Debug, Clone, Copy)]
struct Position {
    file: u32,
    line: u64,
    column: u64,
}

impl Position {
    fn resolve(self, sources: &[Source]) -> SourceLocation {
        SourceLocation {
            file: sources
                .get(self.file as usize)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            line: self.line,
            column: self.column,
        }
    }
}

fn entry_key(kind: EntityKind, id: &Slug) -> u64 {
    entry_key_str(kind, id.as_str())
}

fn entry_key_str(kind: EntityKind, id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() has fixed keys: the same (kind, id) hashes alike across calls.
    let mut hasher = std::hash::DefaultHasher::new();
    kind.hash(&mut hasher);
    id.hash(&mut hasher);
    hasher.finish()
}

/// Turns register problems into located errors; a duplicate points at the later definition
/// and names the first.
fn locate(
    problems: Vec<crate::register::Problem>,
    origins: &[Origin],
    sources: &[Source],
) -> Vec<ManifestError> {
    // One pass over the entries, so that a register with many problems is located quickly.
    let mut places_of: HashMap<u64, Vec<Position>> = HashMap::new();
    for (key, position) in origins {
        places_of.entry(*key).or_default().push(*position);
    }
    let mut duplicates_seen: HashMap<u64, usize> = HashMap::new();
    problems
        .into_iter()
        .map(|problem| {
            let key = entry_key(problem.kind, &problem.id);
            let places = places_of.get(&key).map_or(&[][..], Vec::as_slice);
            let first = places.first().map(|p| p.resolve(sources));
            let unknown = || SourceLocation {
                file: String::new(),
                line: 0,
                column: 0,
            };
            if problem.duplicate {
                let nth = duplicates_seen.entry(key).or_insert(0);
                *nth += 1;
                let here = places
                    .get(*nth)
                    .map(|p| p.resolve(sources))
                    .unwrap_or_else(unknown);
                ManifestError {
                    location: here,
                    message: format!(
                        "{} {} is defined twice: first at {}",
                        problem.kind,
                        problem.id,
                        first.map(|f| f.to_string()).unwrap_or_default()
                    ),
                }
            } else {
                ManifestError {
                    location: first.unwrap_or_else(unknown),
                    message: format!("{} {}: {}", problem.kind, problem.id, problem.message),
                }
            }
        })
        .collect()
}

/// Parses every file, on as many threads as there are cores (YAML parsing dominates the
/// apply of a large register).
fn parse_files(sources: &[Source]) -> Vec<Result<ManifestFile, ManifestError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len())
        .max(1);
    if threads == 1 {
        return sources.iter().map(parse_file).collect();
    }
    let mut results: Vec<Option<Result<ManifestFile, ManifestError>>> = Vec::new();
    results.resize_with(sources.len(), || None);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(source) = sources.get(index) else {
                            break;
                        };
                        done.push((index, parse_file(source)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            // A worker only parses; it cannot panic short of a bug in the parser.
            if let Ok(done) = worker.join() {
                for (index, result) in done {
                    results[index] = Some(result);
                }
            }
        }
    });
    results
        .into_iter()
        .zip(sources)
        .map(|(result, source)| {
            result.unwrap_or_else(|| {
                Err(ManifestError {
                    location: SourceLocation {
                        file: source.name.clone(),
                        line: 1,
                        column: 1,
                    },
                    message: "the parser failed on this file".to_owned(),
                })
            })
        })
        .collect()
}

fn parse_file(source: &Source) -> Result<ManifestFile, ManifestError> {
    if source.text.len() > MAX_FILE_BYTES {
        return Err(ManifestError {
            location: SourceLocation {
                file: source.name.clone(),
                line: 1,
                column: 1,
            },
            message: format!("the file is larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    serde_saphyr::from_str_with_options(&source.text, parse_options())
        .map_err(|error| syntax_error(&source.name, &error))
}

/// Parses the text of one file (a convenience for tests and the compiled-in examples).
pub fn parse_str(name: &str, text: &str) -> Result<Register, Vec<ManifestError>> {
    parse(&[Source {
        name: name.to_owned(),
        text: text.to_owned(),
    }])
}

/// Writes the register as one manifest, entries in id order: applying it gives back the same
/// register.
pub fn to_yaml(parts: &RegisterParts) -> String {
    let manifest = Manifest {
        version: VERSION,
        organisations: &parts.organisations,
        activities: &parts.activities,
        contracts: &parts.contracts,
        engagements: &parts.engagements,
    };
    // Every type here serialises to plain maps, lists and strings; the fallback is never taken.
    serde_saphyr::to_string(&manifest).unwrap_or_else(|error| format!("# export failed: {error}\n"))
}

/// The JSON Schema (2020-12) of a manifest file.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Manifest<'static>);
    serde_json::to_value(schema).unwrap_or_default()
}

fn parse_options() -> serde_saphyr::Options {
    // The defaults suit configuration files; registers of a large group hold millions of
    // entries, so the node and event budgets follow the file-size bound instead.
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_FILE_BYTES),
            max_events: 200_000_000,
            max_nodes: 100_000_000,
            max_total_scalar_bytes: MAX_FILE_BYTES,
        },
        emit_comments: false,
        with_snippet: false,
        // YAML 1.2 booleans only: `NO` is Norway, not false.
        strict_booleans: true,
    }
}

fn syntax_error(file: &str, error: &serde_saphyr::Error) -> ManifestError {
    let (line, column) = error.location().map_or((1, 1), |l| (l.line(), l.column()));
    ManifestError {
        location: SourceLocation {
            file: file.to_owned(),
            line,
            column,
        },
        message: plain_message(&error.to_string()),
    }
}

/// The parser's message without the position it appends, which the location already gives.
fn plain_message(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    match first_line.rfind(" at line ") {
        Some(cut) => first_line[..cut].to_owned(),
        None => first_line.to_owned(),
    }
}

/// The worked examples of SPEC.md, compiled in for the demo and the tests.
pub mod examples {
    use super::Source;

    pub const MARKETING_CHAIN: &str = include_str!("../../../examples/marketing-chain.yaml");
    pub const COURIER_CHAIN: &str = include_str!("../../../examples/courier-chain.yaml");
    pub const CARELESS_MIGRATION: &str = include_str!("../../../examples/careless-migration.yaml");

    /// All three, as the files of one register.
    pub fn sources() -> Vec<Source> {
        [
            ("examples/marketing-chain.yaml", MARKETING_CHAIN),
            ("examples/courier-chain.yaml", COURIER_CHAIN),
            ("examples/careless-migration.yaml", CARELESS_MIGRATION),
        ]
        .into_iter()
        .map(|(name, text)| Source {
            name: name.to_owned(),
            text: text.to_owned(),
        })
        .collect()
    }
}
