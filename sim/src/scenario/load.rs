//! Parsing: YAML text to a checked [`Scenario`], or errors that each name
//! `file:line:column`, quote the line with a caret, and give a hint.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde_saphyr::MessageFormatter;

use super::check::{self, Issue, quoted};
use super::model::Scenario;
use super::values::{HINT, Position};

/// One error in a scenario file, at a position.
///
/// `Display` writes it ripgrep/rustc-style:
///
/// ```text
/// scenarios/thrift/split.yaml:31:22: unknown version 'v3' of service 'x.ns.svc.cluster.local'
///    |
/// 31 |   - split: { to: { v3: 20, v2: 80 } }
///    |                    ^
/// hint: its versions are 'v1' and 'v2'
/// ```
#[derive(Debug, Clone)]
pub struct LoadError {
    /// The file, as given.
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1 (in characters).
    pub column: u32,
    /// What is wrong: lower case, values quoted.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
    /// The line of the file with a caret under the column, and a gutter.
    pub excerpt: String,
    source: Arc<NamedSource<String>>,
    offset: usize,
}

impl LoadError {
    fn new(
        source: &Arc<NamedSource<String>>,
        file: &str,
        at: Position,
        message: String,
        hint: Option<String>,
    ) -> LoadError {
        let text = source.inner();
        let at = if at.is_known() {
            at
        } else {
            Position { line: 1, column: 1 }
        };
        let line_text = text.lines().nth(at.line as usize - 1).unwrap_or_default();
        let gutter = at.line.to_string().len();
        let pad: String = line_text
            .chars()
            .take(at.column as usize - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let excerpt = format!(
            "{:gutter$} |\n{} | {line_text}\n{:gutter$} | {pad}^",
            "", at.line, ""
        );
        let line_start: usize = text
            .split_inclusive('\n')
            .take(at.line as usize - 1)
            .map(str::len)
            .sum();
        let column_bytes: usize = line_text
            .chars()
            .take(at.column as usize - 1)
            .map(char::len_utf8)
            .sum();
        LoadError {
            file: file.to_owned(),
            line: at.line,
            column: at.column,
            message,
            hint,
            excerpt,
            source: Arc::clone(source),
            offset: (line_start + column_bytes).min(text.len()),
        }
    }

    /// The error as a miette diagnostic (source, label, help), for the
    /// graphical report.
    pub fn to_diagnostic(&self) -> LoadDiagnostic {
        LoadDiagnostic(self.clone())
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}\n{}",
            self.file, self.line, self.column, self.message, self.excerpt
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A [`LoadError`] as a miette [`Diagnostic`]: its `Display` is the
/// message alone; the position, the source and the hint are the
/// diagnostic's label, source code and help.
#[derive(Debug, Clone)]
pub struct LoadDiagnostic(LoadError);

impl fmt::Display for LoadDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for LoadDiagnostic {}

impl Diagnostic for LoadDiagnostic {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.0.source.as_ref())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::at_offset(
            self.0.offset,
            "here",
        ))))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .hint
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read the scenario: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The scenario is invalid: every error found, in file order (at least one).
    #[error("{}", join(.0))]
    Invalid(Vec<LoadError>),
}

fn join(errors: &[LoadError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub(crate) fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => parse(&text, &file),
        Err(error) => Err(not_utf8(&file, error.as_bytes(), error.utf8_error())),
    }
}

/// The error for a file that is not UTF-8: where the first bad byte is, as
/// a byte offset and as line and column of the text before it.
fn not_utf8(file: &str, bytes: &[u8], error: std::str::Utf8Error) -> ScenarioError {
    let offset = error.valid_up_to();
    let text = String::from_utf8_lossy(bytes).into_owned();
    let before = String::from_utf8_lossy(&bytes[..offset]);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let at = Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    };
    let source = Arc::new(NamedSource::new(file, text).with_language("yaml"));
    ScenarioError::Invalid(vec![LoadError::new(
        &source,
        file,
        at,
        format!(
            "the file is not UTF-8: byte {offset} (0x{:02x}) starts no character",
            bytes.get(offset).copied().unwrap_or(0)
        ),
        Some("scenarios are UTF-8 text; re-save the file as UTF-8".into()),
    )])
}

pub(crate) fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let source = Arc::new(NamedSource::new(file, text.to_owned()).with_language("yaml"));
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|error| {
        let at = error
            .location()
            .map(Position::from)
            .unwrap_or(Position::UNKNOWN);
        let raw = serde_saphyr::DefaultMessageFormatter
            .format_message(error.without_snippet())
            .into_owned();
        let (message, hint) = polish(&raw);
        ScenarioError::Invalid(vec![LoadError::new(&source, file, at, message, hint)])
    })?;
    let mut issues = check::check(&scenario);
    if issues.is_empty() {
        return Ok(scenario);
    }
    issues.sort_by_key(|i: &Issue| i.at);
    Err(ScenarioError::Invalid(
        issues
            .into_iter()
            .map(|i| LoadError::new(&source, file, i.at, i.message, i.hint))
            .collect(),
    ))
}

/// `Nodes { nodes: 250001 }` as `more than 250001 nodes`: the parser's
/// resource limit, in words.
fn budget_words(limit: &str) -> String {
    let name = limit.split([' ', '{']).next().unwrap_or(limit);
    let number: String = limit.chars().filter(char::is_ascii_digit).collect();
    let mut words = String::new();
    for c in name.chars() {
        if c.is_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    match number.as_str() {
        "" => format!("its {words} exceed the limit"),
        n => format!(
            "more than {} {words}",
            n.parse::<u64>()
                .map_or(n.to_owned(), |n| n.saturating_sub(1).to_string())
        ),
    }
}

/// `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`.
fn quoted_or<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|s| format!("'{}'", s.as_ref()))
        .collect();
    match items.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Turns a parser message into the house style: values in single quotes,
/// the list of expected names moved to a hint, Rust type names replaced by
/// words.
pub(crate) fn polish(raw: &str) -> (String, Option<String>) {
    let (message, hint) = match raw.split_once(HINT) {
        Some((m, h)) => (m.to_owned(), Some(h.to_owned())),
        None => (raw.to_owned(), None),
    };
    let message = message.replace('`', "'");
    if let Some(limit) = message.strip_prefix("budget breached: ") {
        return (
            format!("the document is too large to read: {}", budget_words(limit)),
            Some(
                "the parser caps what aliases may expand to (an alias bomb); write fewer aliases or smaller values"
                    .into(),
            ),
        );
    }
    for (prefix, what) in [
        ("unknown field ", "fields"),
        ("unknown variant ", "variants"),
    ] {
        if message.starts_with(prefix)
            && let Some((head, expected)) = message.split_once(", expected ")
        {
            let names = expected
                .trim_start_matches("one of ")
                .split(", ")
                .flat_map(|n| n.split(" or "))
                .map(|n| n.trim_matches('\''));
            let hint = match what {
                "fields" => format!("the fields here are {}", quoted(names)),
                _ => format!("expected one of {}", quoted_or(names)),
            };
            let head = head.replacen("unknown variant ", "unknown value ", 1);
            return (head, Some(hint));
        }
        if message.starts_with(prefix)
            && let Some((head, _)) = message.split_once(", there are no ")
        {
            let head = head.replacen("unknown variant ", "unknown value ", 1);
            return (head, Some(format!("no {what} are allowed here")));
        }
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return (
            format!("duplicate key '{key}'"),
            Some("each key may appear once in a mapping".into()),
        );
    }
    let words = match message.as_str() {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid usize" => {
            Some("expected a whole number")
        }
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" | "invalid isize" => {
            Some("expected a whole number")
        }
        "invalid f32" | "invalid f64" => Some("expected a number"),
        "expected string scalar" => Some("expected a string"),
        "expected sequence start" => Some("expected a list"),
        "expected mapping start" => Some("expected a mapping"),
        "expected end of mapping after enum variant value" => {
            return (
                "expected one key here, naming the kind".to_owned(),
                Some(
                    "put the kind's fields inside it: '- split: { to: …, detect: 2% }', not beside it"
                        .to_owned(),
                ),
            );
        }
        _ => None,
    };
    (words.map_or(message, str::to_owned), hint)
}
