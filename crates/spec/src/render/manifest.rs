//! The typed `manifest.json` of one environment: the stacks in deployment
//! order with what the deployer must know of each (parameters to supply,
//! exports provided, imports used), and the hash of every other file.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use dxops_contract::manifest::{Manifest, SpecRef, Stack};

use super::context;
use crate::spec::{Environment, ValidatedSpec};

/// What a rendered template asks of and offers to other stacks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interface {
    pub parameters: Vec<String>,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

/// Reads a template's interface: parameters without a default, the names
/// of exported outputs and every `Fn::ImportValue` of a literal name.
pub fn interface(template: &Value) -> Interface {
    let parameters = template["Parameters"]
        .as_object()
        .map(|p| {
            p.iter()
                .filter(|(_, v)| v.get("Default").is_none())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let exports = template["Outputs"]
        .as_object()
        .map(|o| {
            o.values()
                .filter_map(|v| v["Export"]["Name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut imports = BTreeSet::new();
    collect_imports(&template["Resources"], &mut imports);
    collect_imports(&template["Outputs"], &mut imports);
    Interface {
        parameters,
        exports,
        imports: imports.into_iter().collect(),
    }
}

fn collect_imports(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Fn::ImportValue", Value::String(name)) => {
                        out.insert(name.clone());
                    }
                    _ => collect_imports(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_imports(i, out)),
        _ => {}
    }
}

/// The manifest of `env`: `stacks` in deployment order with their
/// interfaces, `files` every rendered file so far (name, contents).
pub fn build(
    spec: &ValidatedSpec,
    env: &Environment,
    stacks: &[(&str, Interface)],
    files: &[(String, String)],
) -> Manifest {
    Manifest {
        generator: format!("dxops {}", env!("CARGO_PKG_VERSION")),
        spec: SpecRef {
            name: spec.name.clone(),
            sha256: spec.spec_sha256.clone(),
        },
        environment: env.env.clone(),
        stacks: stacks
            .iter()
            .map(|(file, i)| Stack {
                file: file.to_string(),
                stack_name: context::stack_name(env, file),
                region: if *file == "recovery.yaml" {
                    env.spec.compliance.recovery_region.clone()
                } else {
                    None
                }
                .unwrap_or_else(|| env.spec.region.clone()),
                parameters: i.parameters.clone(),
                exports: i.exports.clone(),
                imports: i.imports.clone(),
            })
            .collect(),
        files: files
            .iter()
            .map(|(n, c)| (n.clone(), hex::encode(Sha256::digest(c.as_bytes()))))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_of_a_template() {
        let t = serde_json::json!({
            "Parameters": { "ImageUri": { "Type": "String" }, "Size": { "Type": "Number", "Default": 1 } },
            "Resources": { "R": { "Properties": { "Key": { "Fn::ImportValue": "data-KeyArn" },
                "List": [{ "Fn::ImportValue": "data-Subnet" }, { "Fn::ImportValue": "data-KeyArn" }] } } },
            "Outputs": { "Arn": { "Value": "x", "Export": { "Name": "ml-Arn" } }, "Plain": { "Value": "y" } }
        });
        assert_eq!(
            interface(&t),
            Interface {
                parameters: vec!["ImageUri".into()],
                exports: vec!["ml-Arn".into()],
                imports: vec!["data-KeyArn".into(), "data-Subnet".into()],
            }
        );
    }
}
