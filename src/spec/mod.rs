//! The pipeline spec: YAML with positions → schema and semantic checks → [`Plan`].

mod diagnostics;
pub mod model;
pub mod names;
mod plan;
pub mod schedule;
mod validate;

pub use diagnostics::{Code, Problem};
pub use model::Spec;
pub use plan::{EnvPlan, Plan};
pub use validate::{load, schema};
