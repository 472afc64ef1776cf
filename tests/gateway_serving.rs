//! What the spec's `serving.gateway` renders: the gateway function between
//! the API and the endpoint (on by default), its least-privilege role, its
//! package parameter kept by the promotion, the audit finding when it is
//! turned off, and the refusals.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn dxops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dxops"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn yaml(path: &Path) -> Value {
    dxops_spec_yaml(&std::fs::read_to_string(path).unwrap())
}

fn dxops_spec_yaml(text: &str) -> Value {
    dxops_spec::yaml::parse(text).expect("stack parses").value
}

/// The example spec with `edit` applied, synthesised into a temporary
/// folder; returns it, the spec's path and the folder.
fn synth_edited(edit: impl Fn(&str) -> String) -> (tempfile::TempDir, String, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("specs/disease-prediction.yaml")).unwrap();
    let spec = edit(&base);
    assert_ne!(spec, base, "the edit found its anchor");
    let path = dir.path().join("disease-prediction.yaml");
    std::fs::write(&path, spec).unwrap();
    let out_dir = dir.path().join("stacks");
    let path = path.to_string_lossy().into_owned();
    let out = dxops(&["synth", &path, "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (dir, path, out_dir)
}

fn with_gateway(settings: &str) -> impl Fn(&str) -> String + '_ {
    move |spec: &str| {
        spec.replace(
            "  gateway: { memory_mb: 256, timeout_seconds: 15 }\n",
            &format!("  gateway: {settings}\n"),
        )
    }
}

#[test]
fn the_committed_staging_stack_puts_the_gateway_before_the_endpoint() {
    let dir = root().join("stacks/disease-prediction/staging");
    let t = yaml(&dir.join("serving.yaml"));
    let r = &t["Resources"];
    let integration = &r["PredictPost"]["Properties"]["Integration"];
    assert_eq!(integration["Type"], "AWS_PROXY");
    assert!(
        integration["Uri"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains("${GatewayFunction.Arn}")
    );
    // (inline policies are rendered as managed ones, one per role and name)
    let invoke = &r["InvokeRoleInvokeFunctionPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    assert_eq!(invoke.as_array().unwrap().len(), 1);
    assert_eq!(invoke[0]["Action"], "lambda:InvokeFunction");
    assert_eq!(invoke[0]["Resource"]["Fn::GetAtt"][0], "GatewayFunction");

    // The gateway may call this endpoint and nothing else of SageMaker.
    let statements = r["GatewayRoleGatewayPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    let sagemaker: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Action"].to_string().contains("sagemaker:"))
        .collect();
    assert_eq!(sagemaker.len(), 1);
    assert_eq!(sagemaker[0]["Action"], "sagemaker:InvokeEndpoint");
    assert_eq!(sagemaker[0]["Resource"]["Ref"], "Endpoint");

    let f = &r["GatewayFunction"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["MemorySize"], 256);
    assert_eq!(f["Timeout"], 15);
    assert_eq!(f["Code"]["S3Key"]["Ref"], "GatewayCodeKey");
    assert_eq!(
        f["Code"]["S3Bucket"]["Fn::Sub"],
        "disease-prediction-staging-deploy-${AWS::AccountId}"
    );
    assert_eq!(
        f["Environment"]["Variables"]["DXOPS_ENDPOINT_NAME"]["Fn::GetAtt"][0],
        "Endpoint"
    );
    assert!(
        f["Environment"]["Variables"]
            .get("DXOPS_DEID_KEY")
            .is_none()
    );
    let pattern = t["Parameters"]["GatewayCodeKey"]["AllowedPattern"]
        .as_str()
        .unwrap();
    assert_eq!(pattern, "^gateway/[0-9a-f]{64}\\.zip$");

    // Deploy asks for the key; the promotion keeps it.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let serving = manifest["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file"] == "serving.yaml")
        .unwrap();
    assert!(
        serving["parameters"].to_string().contains("GatewayCodeKey"),
        "{serving}"
    );
    let promote = std::fs::read_to_string(dir.join("promote.asl.json")).unwrap();
    assert!(
        promote.contains(r#"{"ParameterKey":"GatewayCodeKey","UsePreviousValue":true}"#)
            || promote.contains(r#""ParameterKey": "GatewayCodeKey""#),
        "{promote}"
    );
}

#[test]
fn the_gateways_settings_reach_its_function() {
    let (_dir, _, out) = synth_edited(with_gateway(
        "{ memory_mb: 512, timeout_seconds: 20, reserved_concurrency: 9 }",
    ));
    let t = yaml(&out.join("disease-prediction/prod/serving.yaml"));
    let f = &t["Resources"]["GatewayFunction"]["Properties"];
    assert_eq!(f["MemorySize"], 512);
    assert_eq!(f["Timeout"], 20);
    assert_eq!(f["ReservedConcurrentExecutions"], 9);
}

/// Hash mode on AWS: the Process step mounts the key's object where
/// `dxops-model process` reads it, the gateway is told the same object,
/// exactly those two roles may read it, and no template holds the key
/// (the deploy writes it once: `deploy_moto` checks that half).
#[test]
fn hash_mode_mounts_the_deployed_key_for_processing_and_names_it_to_the_gateway() {
    use dxops_contract::layout::{ENV_DEID_KEY_OBJECT, Layout, PROCESSING_ROOT, paths};
    let (_dir, spec, out) =
        synth_edited(|s| s.replace("identifier_handling: drop", "identifier_handling: hash"));
    let stacks = out.join("disease-prediction/staging");
    let read = |f: &str| std::fs::read_to_string(stacks.join(f)).unwrap();
    let contract: Value = serde_json::from_str(&read("process.json")).unwrap();
    assert_eq!(contract["identifier_handling"], "hash");
    let pipeline: Value = serde_json::from_str(&read("pipeline.json")).unwrap();
    let process = pipeline["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == "Process")
        .unwrap();
    let deid = process["Arguments"]["ProcessingInputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["InputName"] == "deid")
        .expect("a deid input")["S3Input"]
        .clone();
    let key_file = Layout::new(PROCESSING_ROOT).deid_key();
    assert_eq!(
        deid["LocalPath"],
        key_file.parent().unwrap().display().to_string()
    );
    assert!(paths::DEID_KEY_OBJECT.ends_with(paths::DEID_KEY_FILE));
    assert!(key_file.ends_with(paths::DEID_KEY_FILE));
    assert_eq!(
        deid["S3Uri"],
        format!(
            "s3://disease-prediction-staging-artifacts-${{AWS::AccountId}}/{}",
            paths::DEID_KEY_OBJECT
        )
    );

    // Who may read the object: the processing role and the gateway role.
    let object = format!("${{Bucket}}/{}", paths::DEID_KEY_OBJECT);
    let readers = |template: &str| -> Vec<String> {
        let doc = yaml(&stacks.join(template));
        doc["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| {
                r["Type"] == "AWS::IAM::ManagedPolicy"
                    && serde_json::to_string(&r["Properties"])
                        .unwrap()
                        .contains(&object)
            })
            .map(|(id, _)| id.clone())
            .collect()
    };
    assert_eq!(readers("ml.yaml"), ["ProcessingRoleJobPolicy"]);
    assert_eq!(readers("serving.yaml"), ["GatewayRoleGatewayPolicy"]);
    let t = yaml(&stacks.join("serving.yaml"));
    let vars = &t["Resources"]["GatewayFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars[ENV_DEID_KEY_OBJECT]["Fn::Sub"][0],
        format!("s3://${{Bucket}}/{}", paths::DEID_KEY_OBJECT)
    );
    assert!(
        vars.get("DXOPS_DEID_KEY").is_none(),
        "no key in the environment"
    );
    let audit = dxops(&["audit", &spec, "--env", "staging"]);
    assert_eq!(
        audit.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
    );
}

#[test]
fn turning_the_gateway_off_is_an_audit_finding_until_waived() {
    let (dir, spec, out) = synth_edited(with_gateway("{ enabled: false }"));
    let t = yaml(&out.join("disease-prediction/staging/serving.yaml"));
    let r = &t["Resources"];
    assert!(r.get("GatewayFunction").is_none());
    assert!(t["Parameters"].get("GatewayCodeKey").is_none());
    assert!(
        r["PredictPost"]["Properties"]["Integration"]["Uri"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains(":runtime.sagemaker:")
    );
    let audited = dxops(&["audit", &spec, "--env", "staging", "--date", "2026-12-01"]);
    assert_eq!(audited.status.code(), Some(2), "{}", text(&audited));
    assert!(
        text(&audited).contains("apigateway-model-behind-gateway"),
        "{}",
        text(&audited)
    );

    // A team that fronts the endpoint otherwise says so, with a reason.
    let anchor = "  object_lock_days: 30";
    let base = std::fs::read_to_string(&spec).unwrap();
    let at = base.find(anchor).unwrap();
    let end = at + base[at..].find('\n').unwrap() + 1;
    let waived = format!(
        "{}  waivers:\n    - {{ rule: apigateway-model-behind-gateway, resource: PredictPost, reason: \"requests are checked by the hospital's integration engine before the API\", owner: ml-platform, expires: \"2027-06-30\" }}\n{}",
        &base[..end],
        &base[end..]
    );
    let waived_path = dir.path().join("waived.yaml");
    std::fs::write(&waived_path, waived).unwrap();
    let audited = dxops(&[
        "audit",
        waived_path.to_str().unwrap(),
        "--env",
        "staging",
        "--date",
        "2026-12-01",
    ]);
    assert_eq!(audited.status.code(), Some(0), "{}", text(&audited));
}

#[test]
fn a_gateway_for_the_lambda_target_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("specs/lambda-serving.yaml")).unwrap();
    let spec = base.replace(
        "  target: lambda\n",
        "  target: lambda\n  gateway: { memory_mb: 256 }\n",
    );
    assert_ne!(spec, base);
    let path = dir.path().join("lambda.yaml");
    std::fs::write(&path, &spec).unwrap();
    let out = dxops(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    let line = spec.lines().position(|l| l.contains("gateway:")).unwrap() + 1;
    assert!(all.contains(&format!("lambda.yaml:{line}:")), "{all}");
    assert!(all.contains("reads and checks requests itself"), "{all}");

    // and there is no gateway to package for it
    let out = dxops(&[
        "gateway",
        "package",
        "specs/lambda-serving.yaml",
        "--env",
        "prod",
        "--binary",
        env!("CARGO_BIN_EXE_dxops"),
        "--out",
        dir.path().join("g.zip").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has no gateway function"),
        "{}",
        text(&out)
    );
}

#[test]
fn package_names_a_missing_binary_and_how_to_build_it() {
    let out = dxops(&[
        "gateway",
        "package",
        "specs/disease-prediction.yaml",
        "--env",
        "staging",
        "--binary",
        "/nonexistent/dxops-gateway",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("/nonexistent/dxops-gateway") && all.contains("cargo build --release"),
        "{all}"
    );
    assert!(!all.contains("panicked"), "{all}");
}
