//! The batch monitor (`dxops-model monitor`): drift of SageMaker
//! data-capture files against the artifact's baseline.

pub mod batch;
pub mod capture;
pub mod ground_truth;
