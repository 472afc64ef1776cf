//! The model as a request sees it, one piece for both front doors (the HTTP
//! server and the Lambda runtime): content negotiation, parsing, scoring,
//! rendering, and the rejections a client is told. A rejection names the
//! row and the column, never a value the client sent.

use crate::artifact::{Artifact, PredictError, RawValue};
use crate::wire::{InputError, InputFormat, Schema};

use super::output::{self, OutputFormat, Prediction};
use super::{Cell, Window};

/// A request the model does not score: an HTTP status and what the client
/// is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
    pub row: Option<usize>,
    pub column: Option<String>,
}

impl Rejection {
    pub fn new(status: u16, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            message: message.into(),
            row: None,
            column: None,
        }
    }

    /// The JSON error body both front doors answer with.
    pub fn body(&self) -> String {
        serde_json::json!({"error": self.message, "row": self.row, "column": self.column})
            .to_string()
    }

    fn input(e: &InputError) -> Rejection {
        let status = match e {
            InputError::TooManyRows { .. } => 413,
            _ => 400,
        };
        Rejection {
            status,
            message: e.to_string(),
            row: e.row(),
            column: e.column().map(str::to_string),
        }
    }

    fn predict(e: &PredictError) -> Rejection {
        // The model's messages may quote the value; build our own without it.
        let (message, row, column) = match e {
            PredictError::WrongWidth {
                row, got, expected, ..
            } => (
                format!("row {row} has {got} values, the model expects {expected}"),
                *row,
                None,
            ),
            PredictError::NotNumeric { row, column, .. } => (
                format!("row {row}, column `{column}`: not a number"),
                *row,
                Some(column.clone()),
            ),
            PredictError::NonFinite { row, column } => (
                format!("row {row}, column `{column}`: NaN or infinite values are not accepted"),
                *row,
                Some(column.clone()),
            ),
        };
        Rejection {
            status: 400,
            message,
            row: Some(row),
            column,
        }
    }
}

/// The formats of a request's body and of its answer, from the
/// `Content-Type` and `Accept` headers.
pub fn negotiate(
    content_type: Option<&str>,
    accept: Option<&str>,
) -> Result<(InputFormat, OutputFormat), Rejection> {
    let input = content_type
        .and_then(InputFormat::from_content_type)
        .ok_or_else(|| {
            Rejection::new(
                415,
                "Content-Type must be text/csv, application/json or application/jsonlines",
            )
        })?;
    let output = OutputFormat::from_accept(accept).ok_or_else(|| {
        Rejection::new(
            406,
            "Accept must allow application/json, application/jsonlines or text/csv",
        )
    })?;
    Ok((input, output))
}

/// A scored body: the answer and what metrics, feedback and drift keep.
pub struct Scored {
    pub text: String,
    pub rows: usize,
    pub classes: Vec<usize>,
    pub(super) window: Vec<Cell>,
}

/// The loaded model with the schema its requests are read by and the
/// training ranges its answers flag.
pub struct Scorer {
    pub(super) artifact: Artifact,
    schema: Schema,
    ranges: Vec<Option<(f64, f64)>>,
}

impl Scorer {
    pub fn new(artifact: Artifact) -> Scorer {
        let schema = Schema::new(artifact.feature_names(), artifact.feature_types());
        let ranges = artifact
            .feature_names()
            .iter()
            .map(|f| artifact.training_range(f))
            .collect();
        Scorer {
            artifact,
            schema,
            ranges,
        }
    }

    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    fn score(&self, rows: &[Vec<RawValue>]) -> Result<Vec<Prediction>, PredictError> {
        let probabilities = self.artifact.predict_proba(rows)?;
        Ok(rows
            .iter()
            .zip(probabilities)
            .map(|(row, p)| {
                let class = p
                    .iter()
                    .enumerate()
                    .fold(0, |best, (i, v)| if *v > p[best] { i } else { best });
                let out_of_range = row
                    .iter()
                    .zip(&self.ranges)
                    .enumerate()
                    .filter_map(|(j, (v, r))| match (v, r) {
                        (RawValue::Number(x), Some((lo, hi))) if x < lo || x > hi => Some(j),
                        _ => None,
                    })
                    .collect();
                Prediction {
                    class,
                    probabilities: p,
                    out_of_range,
                }
            })
            .collect())
    }

    /// Parses, scores and renders one body, whose answer may take at most
    /// `response_limit` bytes; CPU-bound. The rows are encoded
    /// for `window` but not pushed: that is for the caller, once the answer
    /// is sent.
    pub(super) fn answer(
        &self,
        bytes: &[u8],
        format: InputFormat,
        out: OutputFormat,
        window: &Window,
        response_limit: usize,
    ) -> Result<Scored, Rejection> {
        let rows = self
            .schema
            .parse(bytes, format)
            .map_err(|e| Rejection::input(&e))?;
        let predictions = self.score(&rows).map_err(|e| Rejection::predict(&e))?;
        let text = output::render_bounded(
            out,
            &predictions,
            self.artifact.classes(),
            self.artifact.feature_names(),
            response_limit,
        )
        .ok_or_else(|| {
            Rejection::new(
                413,
                format!(
                    "the response would exceed {response_limit} bytes; send fewer rows per request"
                ),
            )
        })?;
        Ok(Scored {
            text,
            rows: rows.len(),
            classes: predictions.iter().map(|p| p.class).collect(),
            window: window.encode(&rows),
        })
    }
}
