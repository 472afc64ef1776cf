//! The committed stacks against the validators AWS users rely on: cfn-lint
//! for CloudFormation, asl-validator for Step Functions, botocore's
//! SageMaker model for the pipeline steps' request shapes, and checkov and
//! cdk-nag's rule packs, which must honour the waivers the audit reports.
//! `.ci/setup` installs the tools; a missing tool fails the test with that
//! hint.

use std::path::{Path, PathBuf};
use std::process::Command;

use dxops_spec::audit::{
    ControlId, DESIGN_EXPIRES, DESIGN_OWNER, Waiver, scanner_rules, waiver_reason,
};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn stack_files(suffix: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for spec in std::fs::read_dir(root().join("stacks")).unwrap() {
        for env in std::fs::read_dir(spec.unwrap().path()).unwrap() {
            for f in std::fs::read_dir(env.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if p.to_string_lossy().ends_with(suffix) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no stacks/*/*/*{suffix}");
    files
}

fn run(program: &str, args: &[String]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); run `bash .ci/setup` first"))
}

fn paths(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|p| p.display().to_string()).collect()
}

#[test]
fn cfn_lint_finds_nothing_in_the_stacks() {
    let templates = stack_files(".yaml");
    let mut args = vec!["--".to_string()];
    args.extend(paths(&templates));
    let out = run("cfn-lint", &args);
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn retraining_state_machines_are_valid_asl() {
    let retrain = stack_files("retrain.asl.json");
    let live_quality = stack_files("live-quality.asl.json");
    assert_valid_asl(&retrain);
    assert_valid_asl(&live_quality);
    assert_valid_asl(&stack_files("quality-check.asl.json"));
    let promote = stack_files("promote.asl.json");
    assert!(
        !promote.is_empty(),
        "the example specs promote after approval"
    );
    assert_valid_asl(&promote);
    for file in retrain {
        let asl: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            asl["States"]["StartPipeline"]["Resource"],
            "arn:aws:states:::aws-sdk:sagemaker:startPipelineExecution"
        );
    }
}

/// asl-validator accepts each file, and every service integration is a
/// real ARN with no `.sync` on an AWS SDK integration.
fn assert_valid_asl(files: &[PathBuf]) {
    let validator = root().join(".ci/node_modules/.bin/asl-validator");
    for file in files {
        let out = run(
            validator.to_str().unwrap(),
            &["--json-path".into(), file.display().to_string()],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        let asl: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for (name, state) in asl["States"].as_object().unwrap() {
            if let Some(resource) = state["Resource"].as_str() {
                assert!(
                    resource.starts_with("arn:aws:states:::"),
                    "{name}: {resource}"
                );
                assert!(
                    !(resource.contains(":aws-sdk:") && resource.ends_with(".sync")),
                    "{name}: SDK integrations have no .sync"
                );
            }
        }
    }
}

#[test]
fn pipeline_steps_match_the_sagemaker_api() {
    let script = root().join("tests/tools/check_pipeline_shapes.py");
    let mut args = vec![script.display().to_string()];
    args.extend(paths(&stack_files("pipeline.json")));
    let out = run("python3", &args);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 problems"));
}

/// The waivers the audit applied to one environment (its `compliance.json`,
/// the spec's and the design's), each with the text cdk-nag and checkov
/// must show for it.
fn waivers_of(env_dir: &Path) -> Vec<(Waiver, String)> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env_dir.join("compliance.json")).unwrap())
            .unwrap();
    let mut out: Vec<(Waiver, String)> = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        if f["control"] == "waiver-valid" {
            let w: Waiver = serde_json::from_value(f["waiver"].clone()).unwrap();
            let reason = waiver_reason(&w);
            out.push((w, reason));
        }
    }
    assert!(!out.is_empty(), "{}: no waivers", env_dir.display());
    out
}

/// Whether the audit's report of the environment (`compliance.json`) lists
/// this suppression, as the template's metadata states it.
fn reported(
    env_dir: &Path,
    stack: &str,
    id: &str,
    scanner: &str,
    rule: &str,
    reason: &str,
) -> bool {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env_dir.join("compliance.json")).unwrap())
            .unwrap();
    report["suppressions"].as_array().unwrap().iter().any(|s| {
        s["stack"] == stack
            && s["logical_id"] == id
            && s["scanner"] == scanner
            && s["rule"] == rule
            && s["reason"] == reason
    })
}

/// The stack a template file of `stacks/` deploys as, from its `compliance.json`.
fn stack_of(template: &Path) -> String {
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(template.parent().unwrap().join("compliance.json")).unwrap(),
    )
    .unwrap();
    let file = template.file_name().unwrap().to_string_lossy();
    report["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["file"] == *file)
        .and_then(|t| t["stack"].as_str())
        .unwrap_or_else(|| panic!("{file} is not in compliance.json"))
        .to_string()
}

/// Every waiver the audit applied is written on its resource for each rule
/// cdk-nag and checkov have for the control, with the reason, owner and
/// expiry the audit reports, and the resource exists.
#[test]
fn every_waiver_reaches_the_scanners_as_the_audit_reports_it() {
    let mut written = 0;
    for template in stack_files(".yaml") {
        let stack = stack_of(&template);
        let doc = dxops_spec::yaml::parse(&std::fs::read_to_string(&template).unwrap()).unwrap();
        let resources = doc.value["Resources"].as_object().unwrap();
        for (w, reason) in waivers_of(template.parent().unwrap()) {
            let Some((s, id)) = w.resource.split_once('/') else {
                continue;
            };
            if s != stack {
                continue;
            }
            let meta = &resources
                .get(id)
                .unwrap_or_else(|| panic!("{stack}: waiver names {id}, which is not there"))["Metadata"];
            let rules = scanner_rules(w.rule.parse::<ControlId>().unwrap());
            for rule in rules.cdk_nag {
                let want = serde_json::json!({"id": rule, "reason": reason});
                assert!(
                    meta["cdk_nag"]["rules_to_suppress"]
                        .as_array()
                        .is_some_and(|l| l.contains(&want)),
                    "{}: {id} lacks {want}",
                    template.display()
                );
                written += 1;
            }
            for rule in rules.checkov {
                let want = serde_json::json!({"id": rule, "comment": reason});
                assert!(
                    meta["checkov"]["skip"]
                        .as_array()
                        .is_some_and(|l| l.contains(&want)),
                    "{}: {id} lacks {want}",
                    template.display()
                );
                written += 1;
            }
        }
    }
    // access-log sinks (3 rules each) and the recovery replicas (1 rule each)
    assert!(written >= 3 * 6 + 2 * 3, "{written}");
}

#[test]
fn checkov_fails_nothing_and_skips_only_what_a_waiver_names() {
    let checkov = root().join(".ci/venv/bin/checkov");
    let args: Vec<String> = [
        "-d",
        "stacks",
        "--framework",
        "cloudformation",
        "--skip-download",
        "--compact",
        "-o",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run(checkov.to_str().unwrap(), &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("checkov output: {e}\n{text}"));
    let summary = &report["summary"];
    assert_eq!(summary["failed"], 0, "checkov found failures:\n{text}");
    assert!(summary["passed"].as_u64().unwrap() > 500, "{summary}");
    // Every check a control names for checkov is one checkov ran here.
    let ran: Vec<&str> = ["passed_checks", "skipped_checks"]
        .iter()
        .flat_map(|k| report["results"][k].as_array().into_iter().flatten())
        .filter_map(|c| c["check_id"].as_str())
        .collect();
    for control in ControlId::ALL {
        for check in scanner_rules(*control).checkov {
            assert!(ran.contains(check), "{control}: checkov ran no {check}");
        }
    }
    let skipped = report["results"]["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // CKV_AWS_18 on the three environments' access-log sinks, and on the
    // recovery regions' log sinks.
    assert!(skipped.len() >= 6, "{skipped:?}");
    for s in &skipped {
        let file = root()
            .join("stacks")
            .join(s["file_path"].as_str().unwrap().trim_start_matches('/'));
        let id = s["resource"].as_str().unwrap().rsplit('.').next().unwrap();
        let stack = stack_of(&file);
        let comment = s["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        let check = s["check_id"].as_str().unwrap();
        let waived = waivers_of(file.parent().unwrap())
            .into_iter()
            .any(|(w, reason)| {
                w.covers(&stack, id)
                    && reason == comment
                    && scanner_rules(w.rule.parse().unwrap())
                        .checkov
                        .contains(&check)
            });
        assert!(waived, "skip that no waiver of the audit names: {s}");
        assert!(
            reported(
                file.parent().unwrap(),
                &stack,
                id,
                "checkov",
                check,
                comment
            ),
            "not in the audit's report: {s}"
        );
    }
}

/// cdk-nag's report over `templates` (both packs).
fn cdk_nag(templates: &[String]) -> serde_json::Value {
    let mut args = vec![root().join(".ci/cdk-nag/check.js").display().to_string()];
    args.extend(templates.iter().cloned());
    let out = run("node", &args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["templates"].as_u64().unwrap() as usize,
        templates.len()
    );
    report
}

fn list<'a>(report: &'a serde_json::Value, pack: &str, what: &str) -> &'a Vec<serde_json::Value> {
    report["packs"][pack][what].as_array().unwrap()
}

/// cdk-nag's HIPAA Security pack finds nothing (no error, no warning) over
/// the rendered templates as they are, and its AwsSolutions pack no error:
/// every exception is suppressed in the template's metadata, and each
/// suppression cdk-nag applied carries the text of a waiver the audit
/// reports (same reason, owner and expiry) or of an exception the design
/// makes where cdk-nag asks more than the audit (owner "dxops (by design)"),
/// and the audit's report lists it.
#[test]
fn cdk_nag_packs_find_nothing_unwaived() {
    let templates = stack_files(".yaml");
    let report = cdk_nag(&paths(&templates));
    for pack in ["HIPAA.Security", "AwsSolutions"] {
        assert!(
            list(&report, pack, "errors").is_empty(),
            "{pack}: rules that could not be evaluated: {:?}",
            list(&report, pack, "errors")
        );
    }
    let hipaa = list(&report, "HIPAA.Security", "findings");
    assert!(hipaa.is_empty(), "HIPAA Security findings: {hipaa:#?}");
    let errors: Vec<&serde_json::Value> = list(&report, "AwsSolutions", "findings")
        .iter()
        .filter(|f| f["level"] == "error")
        .collect();
    assert!(errors.is_empty(), "AwsSolutions errors: {errors:#?}");

    // Every rule a control names for cdk-nag is one of the packs'.
    let applied: Vec<&serde_json::Value> = ["HIPAA.Security", "AwsSolutions"]
        .iter()
        .flat_map(|p| list(&report, p, "rules"))
        .collect();
    assert!(applied.len() > 100, "{applied:?}");
    for control in ControlId::ALL {
        for rule in scanner_rules(*control).cdk_nag {
            assert!(
                applied.contains(&&serde_json::json!(rule)),
                "{control}: no cdk-nag rule {rule}"
            );
        }
    }

    let mut rules = std::collections::BTreeSet::new();
    for pack in ["HIPAA.Security", "AwsSolutions"] {
        for s in list(&report, pack, "suppressed") {
            let file = Path::new(s["template"].as_str().unwrap());
            let stack = stack_of(file);
            let id = s["logical_id"].as_str().unwrap();
            let rule = s["rule"].as_str().unwrap();
            // A granular finding's reason starts with `[finding] `.
            let reason = s["reason"].as_str().unwrap();
            let reason = match s["finding"].as_str() {
                Some(f) if !f.is_empty() => reason
                    .strip_prefix(&format!("[{f}] "))
                    .unwrap_or_else(|| panic!("{s}")),
                _ => reason,
            };
            let waiver = waivers_of(file.parent().unwrap())
                .into_iter()
                .any(|(w, text)| {
                    w.covers(&stack, id)
                        && text == reason
                        && scanner_rules(w.rule.parse().unwrap())
                            .cdk_nag
                            .contains(&rule)
                });
            let by_design = reason.ends_with(&format!(
                "(waiver of {rule}; owner {DESIGN_OWNER}; expires {DESIGN_EXPIRES})"
            ));
            assert!(waiver || by_design, "suppressed without a waiver: {s}");
            assert!(
                reported(file.parent().unwrap(), &stack, id, "cdk-nag", rule, reason),
                "not in the audit's report: {s}"
            );
            rules.insert(rule.to_string());
        }
    }
    // The exceptions the README names are among them.
    for rule in [
        "HIPAA.Security-S3BucketReplicationEnabled",
        "HIPAA.Security-VPCDefaultSecurityGroupClosed",
        "AwsSolutions-IAM5",
        "AwsSolutions-COG4",
    ] {
        assert!(rules.contains(rule), "{rule} was not suppressed: {rules:?}");
    }
}

/// Without the metadata dxops renders, cdk-nag reports the exceptions again,
/// and an unscoped wildcard added to a policy is reported even with it: the
/// suppressions are what silence the packs, and they silence only what they
/// name.
#[test]
fn cdk_nag_reports_what_the_metadata_does_not_excuse() {
    let dir = tempfile::tempdir().unwrap();
    let env = root().join("stacks/disease-prediction/prod");
    let read = |file: &str| {
        dxops_spec::yaml::parse(&std::fs::read_to_string(env.join(file)).unwrap())
            .unwrap()
            .value
    };
    let mut recovery = read("recovery.yaml");
    for (_, r) in recovery["Resources"].as_object_mut().unwrap() {
        if let Some(m) = r.get_mut("Metadata").and_then(|m| m.as_object_mut()) {
            m.remove("cdk_nag");
        }
    }
    let mut ml = read("ml.yaml");
    let policy =
        &mut ml["Resources"]["TrainingRoleJobPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    policy.as_array_mut().unwrap().push(serde_json::json!({
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}
    }));
    let mut files = Vec::new();
    for (name, value) in [("recovery.json", &recovery), ("ml.json", &ml)] {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
        files.push(path.display().to_string());
    }
    let report = cdk_nag(&files);
    let found = |pack: &str, rule: &str, id: &str| {
        list(&report, pack, "findings")
            .iter()
            .any(|f| f["rule"] == rule && f["logical_id"] == id && f["level"] == "error")
    };
    for id in ["ReplicaBucket", "ReplicaLogsBucket"] {
        assert!(
            found(
                "HIPAA.Security",
                "HIPAA.Security-S3BucketReplicationEnabled",
                id
            ),
            "{id}: {report:#}"
        );
    }
    assert!(
        list(&report, "AwsSolutions", "findings")
            .iter()
            .any(|f| f["rule"] == "AwsSolutions-IAM5"
                && f["logical_id"] == "TrainingRoleJobPolicy"
                && f["finding"] == "Resource::arn:<AWS::Partition>:s3:::*"),
        "{report:#}"
    );
}
