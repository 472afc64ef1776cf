//! The deployer side of dxops: what `bootstrap`, `diff`, `deploy`,
//! `destroy`, `status` and `approve` do through the AWS SDK for Rust.
//!
//! It reads what `synth` wrote (the typed [`Manifest`] and the templates
//! beside it) and the validated spec; it never renders. The model image
//! does not depend on this crate, so it never links the AWS SDK.

use std::path::{Path, PathBuf};

pub use dxops_contract::manifest::{Manifest, ManifestError, Stack};

#[derive(Debug, thiserror::Error)]
pub enum StacksError {
    #[error("cannot read {path}: {source} (run `dxops synth` first)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a dxops manifest: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Order {
        path: PathBuf,
        source: ManifestError,
    },
}

/// The rendered files of one environment, as `synth` left them in
/// `<out>/<name>/<env>/`.
#[derive(Debug, Clone)]
pub struct RenderedEnvironment {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl RenderedEnvironment {
    /// Reads and checks the manifest of `<stacks>/<name>/<env>/`.
    pub fn open(stacks: &Path, name: &str, env: &str) -> Result<RenderedEnvironment, StacksError> {
        let dir = stacks.join(name).join(env);
        let path = dir.join(dxops_contract::manifest::FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| StacksError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|source| StacksError::Parse {
                path: path.clone(),
                source,
            })?;
        manifest
            .check_order()
            .map_err(|source| StacksError::Order { path, source })?;
        Ok(RenderedEnvironment { dir, manifest })
    }

    /// The template file of a stack.
    pub fn template(&self, stack: &Stack) -> PathBuf {
        self.dir.join(&stack.file)
    }
}
