//! Every diagnostic code, on the real binary: each fixture in
//! `tests/fixtures/specs/` names the problems it must produce on its first
//! line (`# expect: <code> <line>:<col> ...`), and every code has a fixture.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/specs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// (code, line, column) triples a fixture expects.
fn expected(path: &Path) -> BTreeSet<(String, usize, usize)> {
    let text = std::fs::read_to_string(path).unwrap();
    let header = text
        .lines()
        .next()
        .unwrap()
        .strip_prefix("# expect:")
        .expect("first line is `# expect: ...`");
    let words: Vec<&str> = header.split_whitespace().collect();
    words
        .chunks(2)
        .map(|pair| {
            let (line, col) = pair[1].split_once(':').unwrap();
            (
                pair[0].to_string(),
                line.parse().unwrap(),
                col.parse().unwrap(),
            )
        })
        .collect()
}

fn validate_json(path: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dxops"))
        .args(["validate", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), json)
}

#[test]
fn each_fixture_reports_exactly_its_problems_at_their_positions() {
    for path in fixtures() {
        let (code, json) = validate_json(&path);
        assert_eq!(code, 1, "{} should fail validation", path.display());
        let got: BTreeSet<(String, usize, usize)> = json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["code"].as_str().unwrap().to_string(),
                    p["line"].as_u64().unwrap() as usize,
                    p["column"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(got, expected(&path), "{}", path.display());
        for p in json["problems"].as_array().unwrap() {
            assert!(!p["message"].as_str().unwrap().is_empty());
            assert_eq!(p["file"].as_str().unwrap(), path.display().to_string());
        }
    }
}

#[test]
fn every_code_has_a_fixture() {
    let covered: BTreeSet<String> = fixtures()
        .iter()
        .flat_map(|p| expected(p))
        .map(|(c, _, _)| c)
        .collect();
    for code in dxops_spec::spec::Code::ALL {
        assert!(
            covered.contains(code.as_str()),
            "no fixture produces `{code}`"
        );
    }
}

#[test]
fn human_output_points_into_the_file() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/specs/three-at-once.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_dxops"))
        .arg("validate")
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("three-at-once.yaml:7:3"), "{stderr}");
    assert!(stderr.contains("did you mean `features`?"), "{stderr}");
    assert!(stderr.contains("3 problems found"), "{stderr}");
}

#[test]
fn example_specs_are_valid() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let out = Command::new(env!("CARGO_BIN_EXE_dxops"))
        .arg("validate")
        .arg(root.join("specs/disease-prediction.yaml"))
        .arg(root.join("specs/minimal.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_writes_a_spec_that_validates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("specs/new.yaml");
    let bin = env!("CARGO_BIN_EXE_dxops");
    assert!(
        Command::new(bin)
            .arg("init")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new(bin)
            .arg("validate")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    let again = Command::new(bin).arg("init").arg(&path).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}
