//! The types the two sides of dxops must agree on: the spec/render side
//! writes them into `stacks/`, the model image and `dxops run` read them,
//! and the deployer reads the manifest. Nothing here does I/O beyond paths,
//! so both sides can depend on it without pulling in each other's weight.
//!
//! - [`data`]: the data contract (`process.json`) and training choices;
//! - [`hyperparameters`]: the training step's hyperparameters, as strings
//!   and typed, with their defaults and ranges;
//! - [`evaluation`]: the evaluation report (`evaluation.json`);
//! - [`gates`]: the condition step, derived from and checked against one list;
//! - [`drift`]: the drift statistic named by the spec and used by the server;
//! - [`manifest`]: the stacks of an environment in deployment order;
//! - [`layout`]: the SageMaker container layout.

pub mod data;
pub mod drift;
pub mod evaluation;
pub mod gates;
pub mod hyperparameters;
pub mod layout;
pub mod manifest;
