//! The serving stack of a spec with `serving.target: lambda`, as committed in
//! `stacks/chd-risk/prod/` (the golden copy): the audit passes it, and
//! taking away any one of the function's safeguards fails exactly the
//! control that guards it.

use dxops_spec::audit::{AuditOptions, TemplateInput, audit, design_waivers};
use serde_json::{Value, json};

const SPEC: &str = "chd-risk";
const ENV: &str = "prod";

fn stack_name(file: &str) -> String {
    format!("{SPEC}-{ENV}-{}", file.trim_end_matches(".yaml"))
}

fn serving() -> Value {
    let path = format!(
        "{}/../../stacks/{SPEC}/{ENV}/serving.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("stacks/ is committed");
    dxops_spec::yaml::parse(&text).expect("stack parses").value
}

fn failing(template: &Value) -> Vec<String> {
    let input = [TemplateInput {
        stack: stack_name("serving.yaml"),
        path: None,
        text: serde_json::to_string(template).unwrap(),
    }];
    let options = AuditOptions {
        log_retention_days: 2192,
        waivers: design_waivers(stack_name, true),
        today: Some("2026-12-01".into()),
    };
    let report = audit(&input, &options).unwrap();
    report
        .failing_controls()
        .into_iter()
        .map(String::from)
        .collect()
}

fn edited(pointer: &str, new: Option<Value>) -> Value {
    let mut v = serving();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let obj = v
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("nothing at {parent}"));
    let old = match new {
        Some(n) => obj.insert(key.to_string(), n),
        None => obj.remove(key),
    };
    assert!(old.is_some(), "nothing at {pointer}");
    v
}

#[test]
fn the_rendered_function_passes_the_audit() {
    let t = serving();
    for id in ["Function", "FunctionAlias", "DeployGroup", "DeployConfig"] {
        assert!(
            t.pointer(&format!("/Resources/{id}")).is_some(),
            "{id} is not rendered"
        );
    }
    assert_eq!(
        t["Resources"]["Function"]["Properties"]["Runtime"],
        "provided.al2023"
    );
    assert_eq!(
        t["Resources"]["Function"]["Properties"]["Handler"],
        "bootstrap"
    );
    assert!(failing(&t).is_empty(), "{:?}", failing(&t));
}

#[test]
fn each_safeguard_removed_fails_its_control() {
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        (
            "/Resources/FunctionAlias/UpdatePolicy",
            None,
            "lambda-alias-rollback",
        ),
        (
            "/Resources/DeployGroup/Properties/AutoRollbackConfiguration",
            None,
            "lambda-alias-rollback",
        ),
        (
            "/Resources/DeployGroup/Properties/AutoRollbackConfiguration/Events",
            Some(json!(["DEPLOYMENT_FAILURE"])),
            "lambda-alias-rollback",
        ),
        (
            "/Resources/DeployGroup/Properties/AlarmConfiguration/Enabled",
            Some(json!(false)),
            "lambda-alias-rollback",
        ),
        (
            "/Resources/Function/Properties/KmsKeyArn",
            None,
            "lambda-env-kms-encryption",
        ),
        (
            "/Resources/Function/Properties/VpcConfig",
            None,
            "lambda-in-vpc",
        ),
        (
            "/Resources/Function/Properties/DeadLetterConfig",
            None,
            "lambda-resilience",
        ),
        (
            "/Resources/Function/Properties/ReservedConcurrentExecutions",
            None,
            "lambda-resilience",
        ),
        (
            "/Resources/FunctionLogGroup/Properties/KmsKeyId",
            None,
            "logs-kms-encryption",
        ),
        (
            "/Resources/FunctionDeadLetterQueue/Properties/KmsMasterKeyId",
            None,
            "sqs-kms-encryption",
        ),
        (
            "/Resources/FunctionDeadLetterQueuePolicy",
            None,
            "sqs-tls-only",
        ),
        (
            "/Resources/FunctionLogGroup/DeletionPolicy",
            None,
            "data-store-retain",
        ),
    ];
    for (pointer, new, control) in cases {
        let got = failing(&edited(pointer, new.clone()));
        assert_eq!(got, [control], "{pointer} → {new:?}");
    }
}
