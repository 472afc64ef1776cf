//! Drift monitoring: the statistics, per-feature drift against the
//! artifact's baseline, and the batch monitor over SageMaker data capture.

pub mod batch;
pub mod capture;
pub mod drift;
pub mod stats;
