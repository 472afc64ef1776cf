//! dxops: one declarative pipeline spec in, everything a disease-prediction
//! MLOps pipeline on AWS needs out.
//!
//! The modules follow the flow of data:
//! `spec` (YAML with spans → validated `Plan`) → `render` (Plan → stacks/) ;
//! `ml` is the model side, shipped as the `dxops-model` container image.

pub mod audit;
pub mod ml;
pub mod monitor;
pub mod render;
pub mod serve;
pub mod spec;
pub mod yaml;
