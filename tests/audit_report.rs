//! Report renderings: snapshots, SARIF schema validity, determinism, errors,
//! and the generated control table in docs/controls.md.

use dxops_spec::audit::{
    AuditError, AuditOptions, Format, Report, Status, TemplateInput, Waiver, audit,
    controls_markdown, exit_code,
};

const SMALL_PATH: &str = "tests/fixtures/audit/small/stack.yaml";
const SMALL: &str = include_str!("fixtures/audit/small/stack.yaml");

/// Line of the `Properties:` key of the `Logs` resource in the small fixture.
fn logs_properties_line() -> usize {
    let logs = SMALL.lines().position(|l| l == "  Logs:").unwrap();
    SMALL
        .lines()
        .skip(logs)
        .position(|l| l == "    Properties:")
        .unwrap()
        + logs
        + 1
}

fn small_inputs() -> Vec<TemplateInput> {
    vec![TemplateInput {
        stack: "small".into(),
        path: Some(SMALL_PATH.into()),
        text: SMALL.into(),
    }]
}

fn small_options() -> AuditOptions {
    AuditOptions {
        log_retention_days: 365,
        waivers: vec![Waiver {
            rule: "s3-access-logging".into(),
            resource: "small/Bucket".into(),
            reason: "Scratch bucket | no PHI".into(),
            owner: "ml-team".into(),
            expires: "2027-03-31".into(),
        }],
        today: Some("2026-11-29".into()),
    }
}

fn small_report() -> Report {
    audit(&small_inputs(), &small_options()).unwrap()
}

#[test]
fn small_report_findings() {
    let r = small_report();
    assert_eq!(
        r.failing_controls(),
        [
            "kms-key-rotation",
            "log-retention",
            "s3-replication",
            "s3-object-lock",
            "data-classification-tag"
        ]
    );
    assert_eq!(r.exit_code(), 2);
    assert_eq!(exit_code(&Ok(r.clone())), 2);
    let rotation = r
        .findings
        .iter()
        .find(|f| f.control == "kms-key-rotation")
        .unwrap();
    assert_eq!(
        rotation.pointer,
        "/Resources/Key/Properties/EnableKeyRotation"
    );
    assert_eq!((rotation.line, rotation.col), (Some(9), Some(7)));
    assert_eq!(rotation.file.as_deref(), Some(SMALL_PATH));
    // A missing property points at its nearest present ancestor.
    let tag = r
        .findings
        .iter()
        .find(|f| f.control == "data-classification-tag" && f.status == Status::Fail)
        .unwrap();
    assert_eq!(tag.logical_id, "Logs");
    assert_eq!((tag.line, tag.col), (Some(logs_properties_line()), Some(5)));
    let waived = r
        .findings
        .iter()
        .find(|f| f.status == Status::Waived)
        .unwrap();
    assert_eq!(waived.control, "s3-access-logging");
    assert_eq!(r.templates[0].sha256.len(), 64);
}

#[test]
fn human_snapshot() {
    insta::assert_snapshot!(small_report().render(Format::Human));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(small_report().render(Format::Markdown));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(small_report().render(Format::Json));
}

#[test]
fn renderings_are_deterministic() {
    for format in [Format::Human, Format::Json, Format::Sarif, Format::Markdown] {
        assert_eq!(small_report().render(format), small_report().render(format));
    }
    // Input order of templates does not matter.
    let reference = TemplateInput {
        stack: "reference".into(),
        path: None,
        text: include_str!("fixtures/audit/reference/stack.yaml").into(),
    };
    let mut ab = small_inputs();
    ab.push(reference.clone());
    let mut ba = vec![reference];
    ba.extend(small_inputs());
    let (a, b) = (
        audit(&ab, &small_options()).unwrap(),
        audit(&ba, &small_options()).unwrap(),
    );
    assert_eq!(a.render(Format::Json), b.render(Format::Json));
}

#[test]
fn sarif_is_valid_against_the_2_1_0_schema() {
    let mut schema: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/audit/sarif-2.1.0-rtm.5.json")).unwrap();
    // The published schema's `language` patterns (on run and toolComponent)
    // have a stray `]` that is not a valid ECMA-262 regex, so the validator
    // refuses to compile them; use the pattern they mean (`en` or `en-US`).
    for def in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        assert_eq!(language, "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$");
        *language = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into();
    }
    let validator = jsonschema::validator_for(&schema).unwrap();
    let sarif: serde_json::Value =
        serde_json::from_str(&small_report().render(Format::Sarif)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator is not vacuous: a broken log is rejected.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = "severe".into();
    assert!(!validator.is_valid(&broken));

    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), dxops_spec::audit::CONTROLS.len());
    assert!(rules.iter().all(|r| {
        r["properties"]["cfr"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    }));
    let results = run["results"].as_array().unwrap();
    let rotation = results
        .iter()
        .find(|r| r["ruleId"] == "kms-key-rotation")
        .unwrap();
    assert_eq!(
        rotation["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        SMALL_PATH
    );
    assert_eq!(
        rotation["locations"][0]["physicalLocation"]["region"]["startLine"],
        9
    );
    let waived = results
        .iter()
        .find(|r| r["ruleId"] == "s3-access-logging")
        .unwrap();
    assert_eq!(waived["suppressions"][0]["status"], "accepted");
    assert!(
        waived["suppressions"][0]["justification"]
            .as_str()
            .unwrap()
            .contains("ml-team")
    );
    assert!(
        results.iter().all(|r| r["ruleId"] != "s3-kms-encryption"),
        "passes are not results"
    );
    assert_eq!(
        run["artifacts"][0]["hashes"]["sha-256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn errors_exit_with_one() {
    let opts = small_options();
    type Expect = fn(&AuditError) -> bool;
    let cases: Vec<(Vec<TemplateInput>, Expect)> = vec![
        (vec![], |e| matches!(e, AuditError::NoTemplates)),
        (
            vec![TemplateInput {
                stack: "x".into(),
                path: None,
                text: "Resources: [".into(),
            }],
            |e| matches!(e, AuditError::Parse { .. }),
        ),
        (
            vec![TemplateInput {
                stack: "x".into(),
                path: None,
                text: "Outputs: {}".into(),
            }],
            |e| matches!(e, AuditError::NotATemplate { .. }),
        ),
        (
            vec![TemplateInput {
                stack: "x".into(),
                path: None,
                text: "Resources:\n  A:\n    Properties: {}\n".into(),
            }],
            |e| matches!(e, AuditError::NotATemplate { .. }),
        ),
        (
            vec![small_inputs().remove(0), small_inputs().remove(0)],
            |e| matches!(e, AuditError::DuplicateStack(_)),
        ),
    ];
    for (inputs, expected) in cases {
        let result = audit(&inputs, &opts);
        match &result {
            Err(e) => assert!(expected(e), "{e:?}"),
            Ok(_) => panic!("expected an error"),
        }
        assert_eq!(exit_code(&result), 1);
    }
}

#[test]
fn json_template_is_judged_like_yaml() {
    let yaml_value = dxops_spec::yaml::parse(SMALL).unwrap().value;
    let json_input = vec![TemplateInput {
        stack: "small".into(),
        path: Some("small.json".into()),
        text: serde_json::to_string_pretty(&yaml_value).unwrap(),
    }];
    let from_json = audit(&json_input, &small_options()).unwrap();
    let from_yaml = small_report();
    let strip = |r: &Report| -> Vec<(String, Status, String)> {
        r.findings
            .iter()
            .map(|f| (f.control.clone(), f.status, f.pointer.clone()))
            .collect()
    };
    assert_eq!(strip(&from_json), strip(&from_yaml));
    assert!(
        from_json
            .findings
            .iter()
            .filter(|f| f.file.is_some())
            .all(|f| f.line.is_some())
    );
}

#[test]
fn docs_controls_md_is_generated_from_the_catalogue() {
    let path = concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/docs/controls.md"
    );
    let generated = controls_markdown();
    if std::env::var_os("DXOPS_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/controls.md is stale; rerun with DXOPS_BLESS=1"
    );
}

#[test]
fn json_report_matches_its_published_schema() {
    let schema = dxops_spec::audit::report_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&small_report().render(Format::Json)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = report.clone();
    broken["findings"][0]["status"] = "maybe".into();
    assert!(!validator.is_valid(&broken));
}
