//! `dxops audit` on the real binary: the committed specs pass, and removing
//! any one hardening property from a rendered template fails the control
//! that guards it.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn dxops(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dxops"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn committed_specs_pass_every_control() {
    let out = dxops(&[
        "audit",
        "specs/disease-prediction.yaml",
        "specs/minimal.yaml",
        "--date",
        "2026-11-29",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn machine_formats_are_single_documents() {
    for format in ["json", "sarif"] {
        let out = dxops(&[
            "audit",
            "specs/disease-prediction.yaml",
            "--format",
            format,
            "--date",
            "2026-11-29",
        ]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if format == "sarif" {
            assert_eq!(doc["version"], "2.1.0");
            assert_eq!(
                doc["runs"].as_array().unwrap().len(),
                2,
                "one run per environment"
            );
        } else {
            assert_eq!(doc["reports"].as_array().unwrap().len(), 2);
        }
    }
}

#[test]
fn an_expired_waiver_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    let text = std::fs::read_to_string(root().join("specs/minimal.yaml")).unwrap().replace(
        "compliance: { recovery_region: eu-central-1 }",
        "compliance:\n  waivers:\n    - { rule: s3-replication, resource: RawBucket, reason: \"single-region pilot\", owner: secops, expires: 2026-01-31 }",
    );
    std::fs::write(&spec, text).unwrap();
    let path = spec.to_str().unwrap();
    let before = dxops(&["audit", path, "--date", "2026-01-31"]);
    let stdout = String::from_utf8_lossy(&before.stdout);
    // Valid on its last day: RawBucket is waived, the other buckets still fail replication.
    assert!(
        stdout.contains("waived") && stdout.contains("single-region pilot"),
        "{stdout}"
    );
    let after = dxops(&["audit", path, "--date", "2026-02-01"]);
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(2));
    assert!(stdout.contains("FAIL   waiver-valid"), "{stdout}");
}

/// (what is removed, template, text to delete or replace, replacement, control that must fail)
const MUTATIONS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "bucket encryption",
        "data.yaml",
        "SSEAlgorithm: aws:kms",
        "SSEAlgorithm: AES256",
        "s3-kms-encryption",
    ),
    (
        "key rotation",
        "data.yaml",
        "EnableKeyRotation: true",
        "EnableKeyRotation: false",
        "kms-key-rotation",
    ),
    (
        "public access block",
        "data.yaml",
        "RestrictPublicBuckets: true",
        "RestrictPublicBuckets: false",
        "s3-public-access-block",
    ),
    (
        "network isolation",
        "serving.yaml",
        "EnableNetworkIsolation: true",
        "EnableNetworkIsolation: false",
        "sagemaker-network-isolation",
    ),
    (
        "log group key",
        "ingest.yaml",
        "      KmsKeyId:\n        Fn::ImportValue: heart-disease-prod-data-KeyArn\n      Tags:",
        "      Tags:",
        "logs-kms-encryption",
    ),
    (
        "retain policy",
        "data.yaml",
        "RawBucketReplicationRoleReplicatePolicy\n    DeletionPolicy: Retain",
        "RawBucketReplicationRoleReplicatePolicy\n    DeletionPolicy: Delete",
        "data-store-retain",
    ),
    (
        "scoped action",
        "ml.yaml",
        "Sid: Notify\n          Effect: Allow\n          Action: sns:Publish",
        "Sid: Notify\n          Effect: Allow\n          Action: \"*\"",
        "iam-no-wildcard-action",
    ),
    (
        "topic key",
        "ml.yaml",
        "KmsMasterKeyId:",
        "KmsMasterKeyIdRemoved:",
        "sns-kms-encryption",
    ),
    (
        "state machine logging",
        "ml.yaml",
        "Level: ALL",
        "Level: OFF",
        "stepfunctions-logging",
    ),
    (
        "TLS-only policy",
        "data.yaml",
        "aws:SecureTransport: \"false\"",
        "aws:SecureTransport: \"true\"",
        "s3-tls-only",
    ),
];

fn failing_controls(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL   "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn removing_one_hardening_property_fails_its_control() {
    let dir = tempfile::tempdir().unwrap();
    for (what, file, from, to, control) in MUTATIONS {
        let original =
            std::fs::read_to_string(root().join("stacks/heart-disease/prod").join(file)).unwrap();
        assert!(original.contains(from), "{what}: `{from}` not in {file}");
        let path = dir.path().join(file);
        std::fs::write(&path, &original).unwrap();
        let baseline = dxops(&["audit", path.to_str().unwrap(), "--date", "2026-11-29"]);
        let before = failing_controls(&String::from_utf8_lossy(&baseline.stdout));
        assert!(
            !before.contains(&control.to_string()),
            "{what}: {control} fails before the mutation"
        );

        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let out = dxops(&["audit", path.to_str().unwrap(), "--date", "2026-11-29"]);
        assert_eq!(out.status.code(), Some(2), "{what}");
        let after = failing_controls(&String::from_utf8_lossy(&out.stdout));
        assert!(
            after.contains(&control.to_string()),
            "{what}: expected {control} to fail, got {after:?}"
        );
    }
}

/// 2 means findings (audit), changes (diff) or drift (status): a usage
/// error must not look like one, on any command.
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    for args in [
        &["audit", "--no-such-flag"][..],
        &["diff", "specs/minimal.yaml"],
        &[
            "deploy",
            "specs/minimal.yaml",
            "--env",
            "prod",
            "--image-uri",
            "bad",
        ],
        &[
            "status",
            "specs/minimal.yaml",
            "--env",
            "prod",
            "--format",
            "xml",
        ],
        &["no-such-command"],
    ] {
        let out = dxops(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
    for args in [&["--help"][..], &["deploy", "--help"], &["--version"]] {
        let out = dxops(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}
