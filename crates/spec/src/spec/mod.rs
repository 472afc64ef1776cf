//! The pipeline spec: YAML with positions → schema and semantic checks → [`ValidatedSpec`].

mod diagnostics;
pub mod model;
pub mod names;
pub mod schedule;
pub mod text;
mod validate;
mod validated;

pub use diagnostics::{Code, Problem};
pub use model::Spec;
pub use validate::{load, schema};
pub use validated::{Environment, ValidatedSpec};
