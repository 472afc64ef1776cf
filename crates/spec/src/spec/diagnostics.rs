//! Problems found in a spec, each pointing into the user's file.
//!
//! Codes are stable kebab-case identifiers (documented in the README); tests
//! and scripts may match on them. `validate` collects every problem before
//! failing, so one run shows the whole list.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};

use crate::yaml::Span;

macro_rules! codes {
    ($($variant:ident => $id:literal: $meaning:literal,)+) => {
        /// Stable diagnostic codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = concat!("`", $id, "`: ", $meaning, ".")] $variant,)+
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: [Code; [$($id),+].len()] = [$(Code::$variant),+];

            /// The stable kebab-case id.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $id,)+
                }
            }

            /// One line saying what the code means (the README's table).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)+
                }
            }
        }

        impl std::str::FromStr for Code {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($id => Ok(Code::$variant),)+
                    _ => Err(UnknownCode(s.to_string())),
                }
            }
        }
    };
}

// One line per code: variant, stable id, meaning.
codes! {
    YamlSyntax => "yaml-syntax": "the file is not readable YAML",
    UnknownKey => "unknown-key": "a key the spec does not know (with \"did you mean\")",
    MissingKey => "missing-key": "a required key is absent",
    WrongType => "wrong-type": "a value of the wrong type",
    InvalidValue => "invalid-value": "a value outside its allowed set or pattern",
    OutOfRange => "out-of-range": "a number outside its allowed range",
    UnsupportedVersion => "unsupported-version": "`version` is not 1",
    LabelIsFeature => "label-is-feature": "the label column is also a feature",
    IdentifierIsFeature => "identifier-is-feature": "an identifier column is also a feature (or the label)",
    DuplicateColumn => "duplicate-column": "a feature is listed twice",
    UnknownColumn => "unknown-column": "a quality rule names a column that is not in the data",
    RuleShape => "rule-shape": "a quality rule or feature lacks a field its kind needs, or has one it cannot use",
    AwsNameLimit => "aws-name-limit": "a derived AWS name (bucket, role, endpoint, stack, ...) breaks AWS's limit",
    BadSchedule => "bad-schedule": "not an EventBridge `rate()` or six-field `cron()` expression",
    GateOutOfRange => "gate-out-of-range": "a metric threshold outside [0, 1]",
    BadOverride => "bad-override": "an environment overrides `version`, `name` or `environments`",
    UnknownWaiverRule => "unknown-waiver-rule": "a waiver names a control that does not exist",
    NotWaivable => "not-waivable": "a waiver names a control that can never be waived",
    Conflict => "conflict": "options that cannot work together (focal loss without boosting, canary on serverless, ...)",
}

/// A string that names no diagnostic code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown diagnostic code `{0}`")]
pub struct UnknownCode(pub String);

impl Code {
    /// The README's table of codes (`| code | meaning |`).
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | meaning |\n| --- | --- |\n");
        for c in Code::ALL {
            out.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.meaning()));
        }
        out
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spec file's text, shared by all problems found in it.
pub type Source = Arc<NamedSource<String>>;

/// One problem in one spec, at one place.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    /// Short text under the underlined span.
    pub label: String,
    pub help: Option<String>,
    pub span: Span,
    pub source: Source,
}

impl Problem {
    /// `file:line:col` of the problem.
    pub fn position(&self) -> String {
        format!(
            "{}:{}:{}",
            self.source.name(),
            self.span.line,
            self.span.col
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl miette::Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&*self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        ))))
    }
}

/// Collects problems for one source file, deduplicated, in file order.
#[derive(Debug)]
pub struct Problems {
    source: Source,
    items: Vec<Problem>,
}

impl Problems {
    pub fn new(source: Source) -> Self {
        Problems {
            source,
            items: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        let problem = Problem {
            code,
            message: message.into(),
            label: label.into(),
            help,
            span,
            source: self.source.clone(),
        };
        let seen = self.items.iter().any(|p| {
            p.code == problem.code && p.span == problem.span && p.message == problem.message
        });
        if !seen {
            self.items.push(problem);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_sorted(mut self) -> Vec<Problem> {
        self.items.sort_by_key(|p| (p.span.offset, p.code));
        self.items
    }
}

/// "did you mean `x`?" for the closest known name, if any is close.
pub fn did_you_mean<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(wrong, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("did you mean `{k}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate id {c}");
            assert_eq!(c.as_str().parse::<Code>(), Ok(c));
            assert!(!c.meaning().ends_with('.'), "{c}");
        }
        assert_eq!(
            "no-such-code".parse::<Code>(),
            Err(UnknownCode("no-such-code".into()))
        );
    }

    #[test]
    fn readme_lists_every_code() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md at the workspace root");
        assert!(
            readme.contains(&Code::markdown_table()),
            "README's diagnostics table is out of step with `Code`; it should read:\n{}",
            Code::markdown_table()
        );
    }
}
