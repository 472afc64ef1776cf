//! The spec side of dxops: one YAML pipeline spec in, the reviewed files of
//! `stacks/` out.
//!
//! The modules follow the flow: [`yaml`] (text with positions) → [`spec`]
//! (schema and semantic checks → a validated [`spec::Spec`] per
//! environment) → [`render`] (Tera templates → canonical files) → [`audit`]
//! (HIPAA controls over the rendered templates). Types the model image must
//! agree on come from `dxops-contract`; nothing here knows the model side.

pub mod audit;
pub mod render;
pub mod spec;
pub mod yaml;
