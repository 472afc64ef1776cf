//! The model side: data processing, training, evaluation (the `dxops-model` image).

pub mod artifact;
pub mod baseline;
pub mod contract;
pub mod data;
pub mod hyperparameters;
pub mod metrics;
pub mod models;
pub mod parallel;
pub mod pipeline;
pub mod preprocess;
pub mod process;
pub mod synth;
pub mod train;
