//! The validated, typed result of a spec: one resolved spec per environment.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::model::Spec;
use super::names::Names;

/// A validated spec, ready to render.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// sha256 of the spec file's bytes, recorded in every manifest.
    pub spec_sha256: String,
    pub environments: BTreeMap<String, EnvPlan>,
}

/// One environment: the base spec with its overrides applied, and its names.
#[derive(Debug, Clone)]
pub struct EnvPlan {
    pub env: String,
    pub spec: Spec,
    pub names: Names,
}

impl Plan {
    pub fn new(name: String, text: &str, environments: BTreeMap<String, EnvPlan>) -> Plan {
        Plan {
            name,
            spec_sha256: hex::encode(Sha256::digest(text.as_bytes())),
            environments,
        }
    }
}

impl EnvPlan {
    pub fn new(env: &str, spec: Spec) -> EnvPlan {
        EnvPlan {
            env: env.to_string(),
            names: Names::new(&spec.name, env),
            spec,
        }
    }
}
