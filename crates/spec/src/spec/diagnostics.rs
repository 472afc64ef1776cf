//! Problems found in a spec, each pointing into the user's file.
//!
//! Codes are stable kebab-case identifiers (documented in the README); tests
//! and scripts may match on them. `validate` collects every problem before
//! failing, so one run shows the whole list.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};

use crate::yaml::Span;

/// Stable diagnostic codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file is not readable YAML.
    YamlSyntax,
    /// A key the spec does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type.
    WrongType,
    /// A value outside its allowed set or pattern.
    InvalidValue,
    /// A number outside its allowed range.
    OutOfRange,
    /// `version` is not one this dxops reads.
    UnsupportedVersion,
    /// The label column is also listed as a feature.
    LabelIsFeature,
    /// An identifier column is also listed as a feature.
    IdentifierIsFeature,
    /// Two features, or a feature and an identifier, share a name.
    DuplicateColumn,
    /// A quality rule names a column that is not in the data.
    UnknownColumn,
    /// A quality rule or feature lacks a field its kind needs, or has one it cannot use.
    RuleShape,
    /// An AWS resource name derived from the spec breaks AWS's limits.
    AwsNameLimit,
    /// Not an EventBridge `rate()` or `cron()` expression.
    BadSchedule,
    /// A gate threshold outside [0, 1].
    GateOutOfRange,
    /// An environment override names a key the spec does not have, or one that cannot be overridden.
    BadOverride,
    /// A waiver names a control that does not exist.
    UnknownWaiverRule,
    /// A waiver names a control that can never be waived.
    NotWaivable,
    /// Options that cannot work together.
    Conflict,
}

impl Code {
    pub const ALL: [Code; 19] = [
        Code::YamlSyntax,
        Code::UnknownKey,
        Code::MissingKey,
        Code::WrongType,
        Code::InvalidValue,
        Code::OutOfRange,
        Code::UnsupportedVersion,
        Code::LabelIsFeature,
        Code::IdentifierIsFeature,
        Code::DuplicateColumn,
        Code::UnknownColumn,
        Code::RuleShape,
        Code::AwsNameLimit,
        Code::BadSchedule,
        Code::GateOutOfRange,
        Code::BadOverride,
        Code::UnknownWaiverRule,
        Code::NotWaivable,
        Code::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::UnknownKey => "unknown-key",
            Code::MissingKey => "missing-key",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::OutOfRange => "out-of-range",
            Code::UnsupportedVersion => "unsupported-version",
            Code::LabelIsFeature => "label-is-feature",
            Code::IdentifierIsFeature => "identifier-is-feature",
            Code::DuplicateColumn => "duplicate-column",
            Code::UnknownColumn => "unknown-column",
            Code::RuleShape => "rule-shape",
            Code::AwsNameLimit => "aws-name-limit",
            Code::BadSchedule => "bad-schedule",
            Code::GateOutOfRange => "gate-out-of-range",
            Code::BadOverride => "bad-override",
            Code::UnknownWaiverRule => "unknown-waiver-rule",
            Code::NotWaivable => "not-waivable",
            Code::Conflict => "conflict",
        }
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
