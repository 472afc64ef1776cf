//! The model side: data processing, training, evaluation (the `dxops-model` image).

pub mod contract;
