//! `manifest.json`: what `synth` rendered for one environment, in the order
//! it deploys. `deploy`, `destroy` and `status` read it; `synth --check`
//! compares it like any other file, so it changes exactly when a file does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// File name of the manifest inside `stacks/<name>/<env>/`.
pub const FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `dxops <version>` that rendered the files.
    pub generator: String,
    pub spec: SpecRef,
    pub environment: String,
    /// CloudFormation stacks in deployment order (destroy goes in reverse).
    pub stacks: Vec<Stack>,
    /// sha256 of every other rendered file, by file name.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecRef {
    pub name: String,
    /// sha256 of the spec file's bytes.
    pub sha256: String,
}

/// One CloudFormation stack of the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// Template file name beside the manifest.
    pub file: String,
    pub stack_name: String,
    pub region: String,
    /// Template parameters the deployer must supply (those without a default).
    pub parameters: Vec<String>,
    /// Export names the stack's outputs provide.
    pub exports: Vec<String>,
    /// Export names the stack imports (`Fn::ImportValue`) from earlier stacks.
    pub imports: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("stack {stack} imports `{export}`, which no earlier stack exports")]
    UnresolvedImport { stack: String, export: String },
    #[error("export `{export}` is provided by both {first} and {second}")]
    DuplicateExport {
        export: String,
        first: String,
        second: String,
    },
}

impl Manifest {
    /// The stacks in the order `destroy` removes them.
    pub fn destroy_order(&self) -> impl Iterator<Item = &Stack> {
        self.stacks.iter().rev()
    }

    pub fn stack(&self, file: &str) -> Option<&Stack> {
        self.stacks.iter().find(|s| s.file == file)
    }

    /// Checks that the order deploys: every import is exported by an
    /// earlier stack of the same region, and no export is provided twice.
    /// (Exports do not cross regions, so a recovery-region stack imports
    /// nothing from the primary region.)
    pub fn check_order(&self) -> Result<(), ManifestError> {
        let mut exported: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for stack in &self.stacks {
            for import in &stack.imports {
                if !exported.contains_key(&(stack.region.as_str(), import.as_str())) {
                    return Err(ManifestError::UnresolvedImport {
                        stack: stack.stack_name.clone(),
                        export: import.clone(),
                    });
                }
            }
            for export in &stack.exports {
                if let Some(first) = exported.insert(
                    (stack.region.as_str(), export.as_str()),
                    stack.stack_name.as_str(),
                ) {
                    return Err(ManifestError::DuplicateExport {
                        export: export.clone(),
                        first: first.into(),
                        second: stack.stack_name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, exports: &[&str], imports: &[&str]) -> Stack {
        Stack {
            file: format!("{name}.yaml"),
            stack_name: name.into(),
            region: "eu-west-1".into(),
            parameters: Vec::new(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
            imports: imports.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn manifest(stacks: Vec<Stack>) -> Manifest {
        Manifest {
            generator: "dxops test".into(),
            spec: SpecRef {
                name: "s".into(),
                sha256: String::new(),
            },
            environment: "staging".into(),
            stacks,
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn imports_must_come_from_earlier_stacks() {
        let ok = manifest(vec![
            stack("data", &["Key"], &[]),
            stack("ml", &[], &["Key"]),
        ]);
        assert_eq!(ok.check_order(), Ok(()));
        let names: Vec<&str> = ok.destroy_order().map(|s| s.stack_name.as_str()).collect();
        assert_eq!(names, ["ml", "data"]);
        let bad = manifest(vec![
            stack("ml", &[], &["Key"]),
            stack("data", &["Key"], &[]),
        ]);
        assert!(matches!(
            bad.check_order(),
            Err(ManifestError::UnresolvedImport { .. })
        ));
    }
}
