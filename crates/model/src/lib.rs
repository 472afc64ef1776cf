//! The model side of dxops: everything the `dxops-model` image runs, as a
//! library, so that `dxops run` runs the very same code on one machine.
//!
//! The modules follow the flow of data: [`ingest`] (records as ingest wrote
//! them) → [`data`] (tables and typed rows) → [`process`] (quality rules, de-identification, split) → [`preprocess`] and
//! [`models`] → [`pipeline`] (fit and cross-validation) → [`train`] (final
//! fit, artifact, evaluation) → [`artifact`] (the versioned model file) →
//! [`serve`] (the SageMaker inference server) and [`monitor`] (batch drift
//! over data capture), both reading request bodies through [`wire`] and
//! judging drift with [`drift`]. [`steps`] is the pipeline's step API over
//! the SageMaker layout. Shared types (data contract, hyperparameters,
//! evaluation, gates, layout) come from `dxops-contract`.

pub mod artifact;
pub mod baseline;
pub mod data;
pub mod drift;
pub mod ingest;
pub mod linfa;
pub mod metrics;
pub mod models;
pub mod monitor;
pub mod parallel;
pub mod pipeline;
pub mod preprocess;
pub mod process;
pub mod serve;
pub mod steps;
pub mod synth;
pub mod train;
pub mod wire;
