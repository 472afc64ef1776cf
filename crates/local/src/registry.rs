//! The local model registry: what SageMaker's Model Registry holds for a
//! model package group, as folders.
//!
//! ```text
//! <root>/registry/<group>/<version>/model/dxops-model.bin
//!                                  /evaluation.json
//!                                  /package.json   (status, lineage, approval record)
//! ```
//!
//! Versions count from 1 per group, like model package versions. The
//! newest `Approved` version is the group's production model: the one
//! `registry:<group>/latest` names and evaluations compare against.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RunError;

/// SageMaker's model approval statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalStatus {
    PendingManualApproval,
    Approved,
    Rejected,
}

impl ApprovalStatus {
    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        match s {
            "PendingManualApproval" => Some(ApprovalStatus::PendingManualApproval),
            "Approved" => Some(ApprovalStatus::Approved),
            "Rejected" => Some(ApprovalStatus::Rejected),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::PendingManualApproval => "PendingManualApproval",
            ApprovalStatus::Approved => "Approved",
            ApprovalStatus::Rejected => "Rejected",
        }
    }
}

/// Where a model version came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub run: String,
    pub spec_name: String,
    pub environment: String,
    /// sha256 of the spec file.
    pub spec_sha256: String,
    /// sha256 of the records the processing step read.
    pub data_sha256: String,
    /// sha256 of the model artifact.
    pub model_sha256: String,
    /// `dxops <version>` that trained it.
    pub code_version: String,
    /// Group and version of the warm-start source, when transfer learning was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start_from: Option<String>,
}

/// Who decided about a version, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub status: ApprovalStatus,
    pub by: String,
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub group: String,
    pub version: u32,
    pub status: ApprovalStatus,
    pub lineage: Lineage,
    /// The metrics the gates judged, copied from `evaluation.json`.
    pub macro_f1: f64,
    pub worst_class_recall: f64,
    /// Every approval decision, oldest first.
    #[serde(default)]
    pub decisions: Vec<Decision>,
}

pub struct Registry {
    root: PathBuf,
}

impl Registry {
    pub fn new(out: &Path) -> Registry {
        Registry {
            root: out.join("registry"),
        }
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        self.root.join(group)
    }

    pub fn version_dir(&self, group: &str, version: u32) -> PathBuf {
        self.group_dir(group).join(version.to_string())
    }

    pub fn model_dir(&self, group: &str, version: u32) -> PathBuf {
        self.version_dir(group, version).join("model")
    }

    /// Every version of a group, oldest first.
    pub fn versions(&self, group: &str) -> Result<Vec<Package>, RunError> {
        let dir = self.group_dir(group);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| RunError::io(&dir, e))? {
            let entry = entry.map_err(|e| RunError::io(&dir, e))?;
            let package = entry.path().join("package.json");
            if package.is_file() {
                out.push(crate::read_json::<Package>(&package)?);
            }
        }
        out.sort_by_key(|p| p.version);
        Ok(out)
    }

    /// Every group in the registry, sorted.
    pub fn groups(&self) -> Result<Vec<String>, RunError> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(|e| RunError::io(&self.root, e))? {
            let entry = entry.map_err(|e| RunError::io(&self.root, e))?;
            if entry.path().is_dir() {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The group's production model: its newest approved version.
    pub fn production(&self, group: &str) -> Result<Option<Package>, RunError> {
        Ok(self
            .versions(group)?
            .into_iter()
            .rev()
            .find(|p| p.status == ApprovalStatus::Approved))
    }

    /// Adds a version: copies the model folder and the evaluation, records
    /// the status (with its decision when the status was decided here).
    pub fn register(
        &self,
        group: &str,
        model: &Path,
        evaluation: &Path,
        mut package: Package,
        decision: Option<Decision>,
    ) -> Result<Package, RunError> {
        let version = self.versions(group)?.last().map_or(1, |p| p.version + 1);
        package.group = group.to_string();
        package.version = version;
        package.decisions.extend(decision);
        let dir = self.version_dir(group, version);
        crate::copy_tree(model, &dir.join("model"))?;
        crate::copy_file(evaluation, &dir.join("evaluation.json"))?;
        crate::write_json(&dir.join("package.json"), &package)?;
        Ok(package)
    }

    /// Records an approval or rejection of one version.
    pub fn decide(
        &self,
        group: &str,
        version: u32,
        decision: Decision,
    ) -> Result<Package, RunError> {
        let path = self.version_dir(group, version).join("package.json");
        if !path.is_file() {
            return Err(RunError::UnknownVersion {
                group: group.to_string(),
                version,
            });
        }
        let mut package: Package = crate::read_json(&path)?;
        package.status = decision.status;
        package.decisions.push(decision);
        crate::write_json(&path, &package)?;
        Ok(package)
    }
}
