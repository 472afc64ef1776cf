//! `dxops deploy` (templates over the inline limit included), `diff`,
//! `status`, `destroy`, `approve`/`reject` and `pipeline start` end to end
//! against moto server (started here through `tests/tools/moto_launcher.py`
//! on a free loopback port, stopped by its pid), and the faults a user
//! meets: no endpoint, no credentials, stale stacks/, a missing parameter,
//! a refused replacement, a missing deploy bucket, an unknown or decided
//! version, an unknown pipeline parameter. Every workaround of the launcher
//! has a test here showing moto still needs it.

mod loopback;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use loopback::{Listening, free_port};

const SPEC: &str = "specs/disease-prediction.yaml";
const IMAGE: &str = "ImageUri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/dxops-model:1";
const MODEL: &str = "ModelDataUrl=s3://disease-prediction-staging-artifacts/model.tar.gz";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// moto server for one test; killed (by its pid) when dropped.
struct Moto {
    server: Listening,
    log: tempfile::NamedTempFile,
}

impl Moto {
    fn start(without: &[&str]) -> Moto {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut cmd = Command::new("python3");
        cmd.arg(root().join("tests/tools/moto_launcher.py"))
            .arg(port.to_string())
            .stdout(Stdio::from(log.reopen().expect("log")))
            .stderr(Stdio::from(log.reopen().expect("log")));
        for w in without {
            cmd.args(["--without", w]);
        }
        // moto settles a stack update at once: no rendered poll need wait its minute
        cmd.args(["--max-wait", "1"]);
        let server = Listening::spawn(
            cmd,
            port,
            "moto (bash .ci/setup installs moto[server])",
            Duration::from_secs(60),
        );
        Moto { server, log }
    }

    fn url(&self) -> String {
        self.server.url()
    }
}

impl Drop for Moto {
    /// A failing test shows moto's own errors (its tracebacks), the last of them.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("HTTP/1.1\" 2") && !l.contains("HTTP/1.1\" 3"))
                .collect();
            let tail = &errors[errors.len().saturating_sub(60)..];
            eprintln!(
                "--- moto's log, without its successful requests ---\n{}",
                tail.join("\n")
            );
        }
    }
}

/// The dxops binary with a clean AWS environment pointing at `endpoint`.
fn dxops_at(endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dxops"));
    cmd.current_dir(root()).args(args);
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("NO_COLOR", "1");
    cmd.output().expect("dxops runs")
}

fn dxops(moto: &Moto, args: &[&str]) -> Output {
    dxops_at(&moto.url(), args)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The real gateway binary, which `cargo test --workspace` builds beside
/// this package's own.
fn gateway_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_dxops")).with_file_name("dxops-gateway");
    assert!(
        bin.is_file(),
        "{} is not built: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// `GatewayCodeKey=<key>` of `spec`'s staging gateway package, as `dxops
/// gateway package` computes it offline (the key is the zip's hash).
fn gateway_parameter_of(spec: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("gateway.zip");
    let bin = gateway_binary();
    let out = dxops_at(
        &format!("http://127.0.0.1:{}", free_port()),
        &[
            "gateway",
            "package",
            spec,
            "--env",
            "staging",
            "--binary",
            bin.to_str().unwrap(),
            "--out",
            zip.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let packaged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    format!("GatewayCodeKey={}", packaged["key"].as_str().unwrap())
}

fn gateway_parameter() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| gateway_parameter_of(SPEC))
}

fn deploy_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        SPEC,
        "--env",
        "staging",
        "--yes",
        "--timeout",
        "300",
        "--parameter",
        IMAGE,
        "--parameter",
        MODEL,
        "--parameter",
        gateway_parameter(),
    ];
    args.extend_from_slice(extra);
    args
}

/// `dxops bootstrap` of the example's staging environment; a second run
/// changes nothing.
fn bootstrap(moto: &Moto) {
    bootstrap_spec(moto, SPEC, &[]);
}

/// Bootstraps `spec`'s staging environment, then pushes its gateway
/// package to the deploy bucket, as a first deploy needs.
fn bootstrap_spec(moto: &Moto, spec: &str, extra: &[&str]) {
    bootstrap_only(moto, spec, extra);
    push_gateway(moto, spec);
}

/// `dxops gateway push`, twice: the second finds the package there.
fn push_gateway(moto: &Moto, spec: &str) {
    let bin = gateway_binary();
    let push = [
        "gateway",
        "push",
        spec,
        "--env",
        "staging",
        "--binary",
        bin.to_str().unwrap(),
    ];
    let pushed = dxops(moto, &push);
    assert_eq!(pushed.status.code(), Some(0), "{}", text(&pushed));
    assert!(
        String::from_utf8_lossy(&pushed.stderr).contains("uploaded s3://"),
        "{}",
        text(&pushed)
    );
    // Content-addressed: a second push finds it.
    let again = dxops(moto, &push);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already there"),
        "{}",
        text(&again)
    );
    assert_eq!(pushed.stdout, again.stdout);
}

fn bootstrap_only(moto: &Moto, spec: &str, extra: &[&str]) {
    let mut args = vec!["bootstrap", spec, "--env", "staging", "--timeout", "120"];
    args.extend_from_slice(extra);
    let out = dxops(moto, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "deploy role  arn:aws:iam::123456789012:role/disease-prediction-staging-deploy"
        ),
        "{}",
        text(&out)
    );
    let out = dxops(moto, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("disease-prediction-staging-bootstrap (eu-west-1): no changes"),
        "{}",
        text(&out)
    );
}

/// boto3 (installed by `.ci/setup`) for checks from outside dxops.
fn boto3(moto: &Moto, script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL", moto.url())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn deploy_redeploy_diff_status_destroy() {
    let moto = Moto::start(&[]);

    // a parameter the manifest lists is required, and named
    let out = dxops(&moto, &["deploy", SPEC, "--env", "staging", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs the parameter `ImageUri`"),
        "{}",
        text(&out)
    );

    // not deployed: every stack is all "add", exit 2
    let out = dxops(&moto, &["diff", SPEC, "--env", "staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not deployed"), "{}", text(&out));

    // nothing deployed: status says so for every part, and does not fail
    let out = dxops(
        &moto,
        &[
            "status",
            SPEC,
            "--env",
            "staging",
            "--no-drift",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for part in ["pipeline", "endpoint", "model_packages"] {
        assert_eq!(status[part]["deployed"], false, "{part}: {}", text(&out));
        assert_eq!(
            status[part]["name"],
            "disease-prediction-staging",
            "{}",
            text(&out)
        );
    }
    let out = dxops(&moto, &["status", SPEC, "--env", "staging", "--no-drift"]);
    assert!(
        text(&out).contains("Pipeline disease-prediction-staging: not deployed")
            && text(&out).contains("Endpoint disease-prediction-staging: not deployed")
            && text(&out).contains("Model package group disease-prediction-staging: not deployed"),
        "{}",
        text(&out)
    );
    // and a pipeline that is not there cannot start
    let out = dxops(&moto, &["pipeline", "start", SPEC, "--env", "staging"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("pipeline disease-prediction-staging does not exist yet"),
        "{}",
        text(&out)
    );

    // no deploy role yet: refused, and said how to get one
    let out = dxops(&moto, &deploy_args(&[]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is not bootstrapped"), "{}", text(&out));
    // nor anywhere to put the gateway's package
    let bin = gateway_binary();
    let out = dxops(
        &moto,
        &[
            "gateway",
            "push",
            SPEC,
            "--env",
            "staging",
            "--binary",
            bin.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("run `dxops bootstrap"),
        "{}",
        text(&out)
    );

    bootstrap(&moto);

    let out = dxops(&moto, &deploy_args(&[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    let order: Vec<usize> = ["recovery", "data", "ingest", "ml", "serving"]
        .iter()
        .map(|s| {
            all.find(&format!("disease-prediction-staging-{s}: CREATE_COMPLETE"))
                .unwrap_or_else(|| panic!("{s} deployed\n{all}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "manifest order\n{all}"
    );
    // the gateway, created from the pushed package, calls the endpoint
    let gateway = boto3(
        &moto,
        r#"import boto3; f = boto3.client("lambda").get_function(FunctionName="disease-prediction-staging-gateway")["Configuration"]; print(f["Runtime"], f["Handler"], f["Environment"]["Variables"]["DXOPS_ENDPOINT_NAME"])"#,
    );
    assert_eq!(
        gateway.trim(),
        "provided.al2023 bootstrap disease-prediction-staging"
    );

    // the second deploy changes nothing, and says so
    let out = dxops(&moto, &deploy_args(&[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(": no changes")
            .count(),
        5,
        "{}",
        text(&out)
    );
    let out = dxops(&moto, &["diff", SPEC, "--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // a spec change: diff reports it (exit 2), the serving stack's endpoint config
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(root().join(SPEC)).unwrap();
    let changed = spec.replace(
        "data_capture: { percent: 20 }",
        "data_capture: { percent: 35 }",
    );
    assert_ne!(spec, changed);
    let changed_path = dir.path().join("disease-prediction.yaml");
    std::fs::write(&changed_path, changed).unwrap();
    let changed_path = changed_path.to_string_lossy().into_owned();
    let out = dxops(
        &moto,
        &[
            "diff",
            &changed_path,
            "--env",
            "staging",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let serving = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stack_name"] == "disease-prediction-staging-serving")
        .unwrap();
    let config = serving["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["logical_id"] == "EndpointConfig")
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(config["action"], "modify");
    assert!(
        config["paths"]
            .to_string()
            .contains("Properties.DataCaptureConfig.InitialSamplingPercentage"),
        "{}",
        text(&out)
    );
    // the same change offline, against the committed tree
    let out = dxops(
        &moto,
        &[
            "diff",
            &changed_path,
            "--env",
            "staging",
            "--against",
            "stacks",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("~ EndpointConfig AWS::SageMaker::EndpointConfig"),
        "{}",
        text(&out)
    );

    let out = dxops(
        &moto,
        &["status", SPEC, "--env", "staging", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for s in status["stacks"].as_array().unwrap() {
        assert_eq!(s["status"], "CREATE_COMPLETE", "{}", text(&out));
        // moto has no DetectStackDrift: said, not hidden
        assert_eq!(s["drift"]["status"], "unavailable", "{}", text(&out));
    }

    // the pipeline: a parameter it does not declare is refused before any call
    let out = dxops(
        &moto,
        &[
            "pipeline",
            "start",
            SPEC,
            "--env",
            "staging",
            "--parameter",
            "MinMacroF=0.7",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has no parameter `MinMacroF` (it has: ImageUri, InputDataUri,"),
        "{}",
        text(&out)
    );
    // moto's executions succeed at once
    let out = dxops(
        &moto,
        &[
            "pipeline",
            "start",
            SPEC,
            "--env",
            "staging",
            "--parameter",
            "MinMacroF1=0.7",
            "--wait",
            "--poll",
            "1",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["status"], "Succeeded", "{}", text(&out));
    let arn = run["execution_arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        arn.contains(":pipeline/disease-prediction-staging/execution/"),
        "{}",
        text(&out)
    );
    let given = boto3(
        &moto,
        &format!(
            "import boto3; print(boto3.client('sagemaker').list_pipeline_parameters_for_execution(PipelineExecutionArn='{arn}')['PipelineParameters'])"
        ),
    );
    assert!(
        given.contains("'MinMacroF1'") && given.contains("'0.7'"),
        "{given}"
    );

    // status: the execution, the endpoint's variant and weight, the (empty) registry
    let out = dxops(
        &moto,
        &[
            "status",
            SPEC,
            "--env",
            "staging",
            "--no-drift",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        status["pipeline"]["value"][0]["arn"],
        arn.as_str(),
        "{}",
        text(&out)
    );
    assert_eq!(
        status["pipeline"]["value"][0]["status"],
        "Succeeded",
        "{}",
        text(&out)
    );
    let endpoint = &status["endpoint"]["value"];
    assert_eq!(endpoint["status"], "InService", "{}", text(&out));
    assert_eq!(
        endpoint["variants"][0]["name"],
        "AllTraffic",
        "{}",
        text(&out)
    );
    assert_eq!(
        endpoint["variants"][0]["current_weight"],
        1.0,
        "{}",
        text(&out)
    );
    // what the variant serves: the model data the deploy was given
    assert_eq!(
        endpoint["variants"][0]["model_data"],
        MODEL.trim_start_matches("ModelDataUrl="),
        "{}",
        text(&out)
    );
    assert_eq!(status["model_packages"]["deployed"], true, "{}", text(&out));
    assert_eq!(
        status["model_packages"]["value"],
        serde_json::json!([]),
        "{}",
        text(&out)
    );
    let out = dxops(&moto, &["status", SPEC, "--env", "staging", "--no-drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for line in [
        "Pipeline disease-prediction-staging: last execution",
        "Succeeded",
        "Endpoint disease-prediction-staging: InService",
        "AllTraffic",
        "weight 1 (100%)  instances 1",
        "Model package group disease-prediction-staging: 0 versions",
    ] {
        assert!(text(&out).contains(line), "{line}\n{}", text(&out));
    }

    // the loop closes: approving a registered package is what serves it
    let model_data = boto3(&moto, PROMOTABLE).trim().to_string();
    assert!(promotions(&moto).is_empty(), "nothing promoted yet");
    let out = decide(&moto, "approve", "1", "reviewed by the clinical board", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let done = settled_promotions(&moto, 1);
    assert_eq!(done[0]["status"], "SUCCEEDED", "{done:?}");
    assert_eq!(
        serving_model_data(&moto),
        [model_data.clone(), model_data.clone()],
        "the serving stack's parameter and its SageMaker model"
    );
    // (on moto the endpoint still names its earlier config after this
    // update, whose model the update replaced, so `status` shows no model
    // data for it here; AWS moves the endpoint to the new config)
    // a rejected version starts nothing (the rule wants Approved)
    let out = decide(&moto, "reject", "2", "recall on lupus too low", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(promotions(&moto).len(), 1, "no promotion for a rejection");
    // a deploy that does not name the model keeps the promoted one
    let out = dxops(
        &moto,
        &[
            "deploy",
            SPEC,
            "--env",
            "staging",
            "--yes",
            "--timeout",
            "300",
            "--parameter",
            IMAGE,
            "--parameter",
            gateway_parameter(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("disease-prediction-staging-serving (eu-west-1): no changes"),
        "{}",
        text(&out)
    );
    assert_eq!(serving_model_data(&moto)[0], model_data);

    // a bucket renamed out of band: putting it back replaces a store, refused
    boto3(
        &moto,
        r#"
import boto3
cf = boto3.client("cloudformation", region_name="eu-central-1")
name = "disease-prediction-staging-recovery"
body = cf.get_template(StackName=name)["TemplateBody"]
if not isinstance(body, str):
    import json; body = json.dumps(body)
new = body.replace("staging-replica-logs-${", "staging-replica-logs-moved-${")
assert new != body, "bucket name found"
cf.update_stack(StackName=name, TemplateBody=new, Capabilities=["CAPABILITY_NAMED_IAM"])
"#,
    );
    let out = dxops(&moto, &deploy_args(&[]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refused"), "{}", text(&out));
    assert!(
        text(&out).contains("ReplicaLogsBucket (AWS::S3::Bucket)"),
        "{}",
        text(&out)
    );
    let out = dxops(&moto, &deploy_args(&["--allow-replace"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // destroy: asks for --yes, keeps the stores and lists what is retained
    let out = dxops(&moto, &["destroy", SPEC, "--env", "staging"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = dxops(&moto, &["destroy", SPEC, "--env", "staging", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    for kept in ["data", "recovery"] {
        assert!(
            all.contains(&format!("Stack disease-prediction-staging-{kept}: kept")),
            "{all}"
        );
    }
    for deleted in ["serving", "ml", "ingest"] {
        assert!(
            all.contains(&format!(
                "Stack disease-prediction-staging-{deleted}: deleted"
            )),
            "{all}"
        );
    }
    let raw = all
        .lines()
        .find(|l| l.contains(" RawBucket (AWS::S3::Bucket) "))
        .unwrap_or_else(|| panic!("RawBucket listed\n{all}"));
    let raw_bucket = raw.rsplit(' ').next().unwrap();
    assert!(
        all.contains("ModelPackageGroup (AWS::SageMaker::ModelPackageGroup)"),
        "{all}"
    );

    let out = dxops(&moto, &["status", SPEC, "--env", "staging", "--no-drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("disease-prediction-staging-serving") && status.contains("NOT_DEPLOYED"),
        "{status}"
    );
    let buckets = boto3(
        &moto,
        "import boto3; print([b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']])",
    );
    assert!(
        buckets.contains(raw_bucket),
        "{raw_bucket} still there: {buckets}"
    );
}

#[test]
fn image_uri_is_the_image_parameter_pinned_by_digest() {
    let moto = Moto::start(&[]);
    let pinned = format!(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/disease-prediction-staging/dxops-model@sha256:{}",
        "0f".repeat(32)
    );
    // --image-uri stands for ImageUri: the next missing parameter is named.
    let out = dxops(
        &moto,
        &[
            "deploy",
            SPEC,
            "--env",
            "staging",
            "--yes",
            "--image-uri",
            &pinned,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs the parameter `ModelDataUrl`"),
        "{}",
        text(&out)
    );
    // A tag is not a pin.
    let out = dxops(
        &moto,
        &[
            "deploy",
            SPEC,
            "--env",
            "staging",
            "--yes",
            "--image-uri",
            &IMAGE["ImageUri=".len()..],
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("host/repository@sha256:"),
        "{}",
        text(&out)
    );
}

#[test]
fn unreachable_endpoint_is_a_clear_error() {
    let port = free_port();
    let out = dxops_at(
        &format!("http://127.0.0.1:{port}"),
        &["status", SPEC, "--env", "staging"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the AWS endpoint"),
        "{}",
        text(&out)
    );
    assert!(!err.contains("panicked"), "{}", text(&out));
}

#[test]
fn missing_credentials_are_a_clear_error() {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dxops"));
    cmd.current_dir(root())
        .args(["diff", SPEC, "--env", "staging"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no AWS credentials"), "{}", text(&out));
}

#[test]
fn stale_stacks_are_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("stacks/disease-prediction/staging");
    std::fs::create_dir_all(&copy).unwrap();
    let original = root().join("stacks/disease-prediction");
    for env in std::fs::read_dir(&original).unwrap() {
        let env = env.unwrap().path();
        let target = dir
            .path()
            .join("stacks/disease-prediction")
            .join(env.file_name().unwrap());
        std::fs::create_dir_all(&target).unwrap();
        for f in std::fs::read_dir(&env).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, target.join(f.file_name().unwrap())).unwrap();
        }
    }
    let ml = copy.join("ml.yaml");
    let edited = std::fs::read_to_string(&ml)
        .unwrap()
        .replace("kms:Decrypt", "kms:*");
    std::fs::write(&ml, edited).unwrap();
    let stacks = dir.path().join("stacks");
    // no endpoint at all: the refusal comes first
    let port = free_port();
    let out = dxops_at(
        &format!("http://127.0.0.1:{port}"),
        &deploy_args(&["--stacks", stacks.to_str().unwrap()]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is stale"), "{}", text(&out));
    assert!(text(&out).contains("ml.yaml"), "{}", text(&out));
}

/// Deploys with one launcher workaround left out; returns dxops's output.
fn without(workaround: &str, then_destroy: bool) -> Output {
    let moto = Moto::start(&[workaround]);
    bootstrap(&moto);
    let out = dxops(&moto, &deploy_args(&[]));
    if then_destroy && out.status.success() {
        return dxops(
            &moto,
            &[
                "destroy",
                SPEC,
                "--env",
                "staging",
                "--yes",
                "--timeout",
                "120",
            ],
        );
    }
    out
}

#[test]
fn moto_still_needs_change_set_exports() {
    let out = without("change-set-exports", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("No export named"), "{}", text(&out));
}

#[test]
fn moto_still_needs_kms_key_tags() {
    let out = without("kms-key-tags", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("disease-prediction-staging-recovery"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("CREATE_COMPLETE"), "{}", text(&out));
}

#[test]
fn moto_still_needs_sagemaker_cfn_resources() {
    let out = without("sagemaker-cfn-resources", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ModelPackageGroup"), "{}", text(&out));
}

#[test]
fn moto_still_needs_endpoint_instance_types() {
    let out = without("endpoint-instance-types", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ml.c6i.large"), "{}", text(&out));
}

#[test]
fn moto_still_needs_endpoint_name() {
    let moto = Moto::start(&["endpoint-name"]);
    bootstrap(&moto);
    let out = dxops(&moto, &deploy_args(&[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = dxops(
        &moto,
        &[
            "status",
            SPEC,
            "--env",
            "staging",
            "--no-drift",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // deployed, yet not under its rendered name
    assert_eq!(status["endpoint"]["deployed"], false, "{}", text(&out));
}

#[test]
fn moto_still_needs_delete_managed_policies() {
    let out = without("delete-managed-policies", true);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("detach"), "{}", text(&out));
}

/// What `tests/tools/promotion_probe.py` sees on moto started without `workaround`
/// (with every workaround when `None`).
fn promotion_probe(workaround: Option<&str>) -> serde_json::Value {
    let moto = Moto::start(workaround.as_slice());
    let script = std::fs::read_to_string(root().join("tests/tools/promotion_probe.py"))
        .expect("probe script");
    serde_json::from_str(&boto3(&moto, &script)).expect("json")
}

#[test]
fn with_the_workarounds_an_approval_starts_the_promotion() {
    let seen = promotion_probe(None);
    assert_eq!(seen["machine_found"], true, "{seen}");
    assert_eq!(seen["approve_error"], serde_json::Value::Null, "{seen}");
    assert_eq!(
        seen["executions"],
        serde_json::json!(["SUCCEEDED", "SUCCEEDED"]),
        "{seen}"
    );
    assert_eq!(seen["model_data"], "s3://bucket/model.tar.gz", "{seen}");
    assert_eq!(seen["group"], "probe", "{seen}");
}

#[test]
fn moto_still_needs_definition_substitutions() {
    let seen = promotion_probe(Some("definition-substitutions"));
    assert_eq!(seen["group"], "${GroupName}", "{seen}");
}

#[test]
fn moto_still_needs_concurrent_executions() {
    let seen = promotion_probe(Some("concurrent-executions"));
    assert_eq!(
        seen["executions"],
        serde_json::json!(["SUCCEEDED"]),
        "{seen}"
    );
}

#[test]
fn moto_still_needs_cfn_state_machines() {
    let seen = promotion_probe(Some("cfn-state-machines"));
    assert_eq!(seen["machine_found"], false, "{seen}");
}

#[test]
fn moto_still_needs_events_step_functions_targets() {
    let seen = promotion_probe(Some("events-step-functions-targets"));
    assert_eq!(seen["machine_found"], true, "{seen}");
    // the approval itself fails: moto's PutEvents raises inside it
    assert_ne!(seen["approve_error"], serde_json::Value::Null, "{seen}");
    assert_eq!(seen["executions"], serde_json::json!([]), "{seen}");
}

#[test]
fn moto_still_needs_model_package_events() {
    let seen = promotion_probe(Some("model-package-events"));
    assert_eq!(seen["machine_found"], true, "{seen}");
    assert_eq!(seen["executions"], serde_json::json!([]), "{seen}");
}

#[test]
fn moto_still_needs_jsonpath_definite_index() {
    let seen = promotion_probe(Some("jsonpath-definite-index"));
    assert_eq!(
        seen["model_data"],
        serde_json::json!(["s3://bucket/model.tar.gz"]),
        "{seen}"
    );
}

#[test]
fn audit_findings_are_refused_before_any_call() {
    // a waiver that lapsed: the audit with today's date fails it
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(root().join(SPEC)).unwrap();
    let anchor = "  object_lock_days: 30";
    let at = spec.find(anchor).expect("anchor in the example spec");
    let end = at + spec[at..].find('\n').unwrap() + 1;
    let lapsed = format!(
        "{}  waivers:\n    - {{ rule: s3-access-logging, resource: RawBucket, reason: \"a lapsed exception\", owner: ml-platform, expires: \"2020-01-01\" }}\n{}",
        &spec[..end],
        &spec[end..]
    );
    let spec_path = dir.path().join("disease-prediction.yaml");
    std::fs::write(&spec_path, lapsed).unwrap();
    let stacks = dir.path().join("stacks");
    let spec_path = spec_path.to_str().unwrap();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = dxops_at(
        &endpoint,
        &["synth", spec_path, "--out", stacks.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut args = deploy_args(&["--stacks", stacks.to_str().unwrap()]);
    args[1] = spec_path;
    let out = dxops_at(&endpoint, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the compliance audit has 1 finding"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("cannot reach"), "{}", text(&out));
}

/// The example spec with 600 more lab values, its identifiers hashed
/// rather than dropped: a real rendering whose ml stack is over
/// CloudFormation's inline limit; returns the spec's path and the folder it
/// was synthesised into.
fn large_spec(dir: &Path) -> (String, String) {
    let spec = std::fs::read_to_string(root().join(SPEC)).unwrap();
    let anchor = "    - { name: sweating, type: boolean }\n";
    assert!(spec.contains(anchor), "anchor in the example spec");
    let drop = "identifier_handling: drop";
    assert!(spec.contains(drop), "the example spec drops identifiers");
    let spec = spec.replace(drop, "identifier_handling: hash");
    let labs: String = (0..600)
        .map(|i| {
            format!("    - {{ name: lab_{i:03}, type: numeric, min: 0, max: 1000, unit: mg/L }}\n")
        })
        .collect();
    let path = dir.join("disease-prediction.yaml");
    std::fs::write(&path, spec.replace(anchor, &format!("{anchor}{labs}"))).unwrap();
    let stacks = dir.join("stacks");
    let (path, stacks) = (
        path.to_string_lossy().into_owned(),
        stacks.to_string_lossy().into_owned(),
    );
    let port = free_port();
    let out = dxops_at(
        &format!("http://127.0.0.1:{port}"),
        &["synth", &path, "--out", &stacks],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (path, stacks)
}

#[test]
fn a_template_over_the_inline_limit_goes_through_the_deploy_bucket() {
    let moto = Moto::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (spec, stacks) = large_spec(dir.path());
    let ml = Path::new(&stacks).join("disease-prediction/staging/ml.yaml");
    for stack in [&ml, &ml.with_file_name("ingest.yaml")] {
        let size = std::fs::metadata(stack).unwrap().len();
        assert!(size > 51_200, "{} has {size} bytes", stack.display());
    }
    bootstrap_only(&moto, &spec, &["--stacks", &stacks]);
    let bucket = "disease-prediction-staging-deploy-123456789012";
    let gateway = gateway_parameter_of(&spec);
    let mut args = deploy_args(&["--stacks", &stacks]);
    args[1] = &spec;
    let at = args.iter().position(|a| *a == gateway_parameter()).unwrap();
    args[at] = &gateway;

    // the deploy bucket gone: the first large stack's upload (ingest, whose
    // Glue table has a column per feature) fails, clearly, exit 1
    boto3(
        &moto,
        &format!("import boto3; boto3.client('s3').delete_bucket(Bucket='{bucket}')"),
    );
    let out = dxops(&moto, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("cannot upload the template of disease-prediction-staging-ingest")
            && all.contains(&format!(
                "s3://{bucket}/templates/disease-prediction-staging-ingest/"
            ))
            && all.contains("NoSuchBucket"),
        "{all}"
    );
    assert!(!all.contains("panicked"), "{all}");
    // hash mode: the key the processing step mounts and the gateway reads,
    // written as soon as the data stack (the artifacts bucket) exists
    let artifacts = "disease-prediction-staging-artifacts-123456789012";
    assert!(
        all.contains(&format!(
            "de-identification key written to s3://{artifacts}/secrets/deid-key"
        )),
        "{all}"
    );

    boto3(
        &moto,
        &format!(
            "import boto3; boto3.client('s3').create_bucket(Bucket='{bucket}', CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})"
        ),
    );
    push_gateway(&moto, &spec);
    let out = dxops(&moto, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(&format!("bytes (over the 51,200 inline) uploaded to s3://{bucket}/templates/disease-prediction-staging-ml/")),
        "{all}"
    );
    assert!(
        all.contains("disease-prediction-staging-ml: CREATE_COMPLETE"),
        "{all}"
    );
    assert!(
        all.contains("disease-prediction-staging-serving: CREATE_COMPLETE"),
        "{all}"
    );

    // the key is 32 random bytes in hex, encrypted by the bucket's default
    let key_check = format!(
        r#"
import boto3
o = boto3.client("s3").get_object(Bucket="{artifacts}", Key="secrets/deid-key")
key = o["Body"].read().decode()
print(len(key), all(c in "0123456789abcdef" for c in key), o.get("ServerSideEncryption"), key)
"#
    );
    let first_key = boto3(&moto, &key_check);
    assert!(first_key.starts_with("64 True aws:kms "), "{first_key}");

    // what CloudFormation deployed is the rendered template, read from the bucket
    let check = format!(
        r#"
import boto3, hashlib
s3 = boto3.client("s3")
body = open({ml:?}, "rb").read()
key = "templates/disease-prediction-staging-ml/" + hashlib.sha256(body).hexdigest() + ".template"
head = s3.head_object(Bucket="{bucket}", Key=key)
versions = s3.list_object_versions(Bucket="{bucket}", Prefix="templates/disease-prediction-staging-ml/").get("Versions", [])
deployed = boto3.client("cloudformation").get_template(StackName="disease-prediction-staging-ml")["TemplateBody"]
print(head["ServerSideEncryption"], len(versions), deployed == body.decode())
"#,
        ml = ml.to_string_lossy()
    );
    assert_eq!(boto3(&moto, &check).trim(), "aws:kms 1 True");

    // a second deploy: no changes, the same object, nothing uploaded again
    let out = dxops(&moto, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert_eq!(all.matches(": no changes").count(), 5, "{all}");
    assert!(
        all.contains(&format!("already in s3://{bucket}/templates/")),
        "{all}"
    );
    assert_eq!(boto3(&moto, &check).trim(), "aws:kms 1 True");
    // and the key is kept, never replaced
    assert!(
        all.contains(&format!(
            "de-identification key: s3://{artifacts}/secrets/deid-key (kept)"
        )),
        "{all}"
    );
    assert_eq!(boto3(&moto, &key_check), first_key);

    // diff reads the same object: nothing to change
    let out = dxops(
        &moto,
        &["diff", &spec, "--env", "staging", "--stacks", &stacks],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A model package group as the ml stack makes it, three versions as the
/// pipeline registers them, and the evaluation the first two point at.
const REGISTERED: &str = r#"
import boto3, json, hashlib
sm = boto3.client("sagemaker")
s3 = boto3.client("s3")
bucket = "disease-prediction-staging-artifacts-123456789012"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
evaluation = json.dumps({"metrics": {"accuracy": 0.94, "macro_f1": 0.933, "balanced_accuracy": 0.93,
    "roc_auc": 0.998, "worst_class_recall": 0.861, "worst_class": "heart_failure",
    "production_macro_f1": 0.933, "macro_f1_drop": 0.0}, "rows": 450}).encode()
key = "runs/exec-1/evaluation/evaluation.json"
s3.put_object(Bucket=bucket, Key=key, Body=evaluation)
sm.create_model_package_group(ModelPackageGroupName="disease-prediction-staging")
for _ in range(3):
    sm.create_model_package(
        ModelPackageGroupName="disease-prediction-staging",
        ModelPackageDescription="disease-prediction staging: passed every gate",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dxops-model@sha256:" + "0" * 64}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}},
    )
print(hashlib.sha256(evaluation).hexdigest())
"#;

/// The package of `version` as SageMaker holds it.
fn package(moto: &Moto, version: u32) -> serde_json::Value {
    let out = boto3(
        moto,
        &format!(
            r#"
import boto3, json
sm = boto3.client("sagemaker")
arn = [p["ModelPackageArn"] for p in sm.list_model_packages(ModelPackageGroupName="disease-prediction-staging")["ModelPackageSummaryList"] if p["ModelPackageVersion"] == {version}][0]
p = sm.describe_model_package(ModelPackageName=arn)
print(json.dumps({{"status": p["ModelApprovalStatus"], "description": p.get("ApprovalDescription"), "metadata": p.get("CustomerMetadataProperties", {{}})}}))
"#
        ),
    );
    serde_json::from_str(&out).expect("json")
}

/// Registers versions 1 and 2 in the deployed group, as the pipeline's
/// Register step would, each with its model data and evaluation; prints
/// version 1's model data.
const PROMOTABLE: &str = r#"
import boto3, json
s3, sm = boto3.client("s3"), boto3.client("sagemaker")
bucket = "disease-prediction-staging-artifacts-123456789012"
key = "runs/exec-7/evaluation/evaluation.json"
s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"metrics": {"accuracy": 0.94,
    "macro_f1": 0.933, "balanced_accuracy": 0.93, "roc_auc": 0.998, "worst_class_recall": 0.861,
    "worst_class": "heart_failure", "production_macro_f1": 0.933, "macro_f1_drop": 0.0}}))
for run in ["exec-7", "exec-8"]:
    sm.create_model_package(
        ModelPackageGroupName="disease-prediction-staging",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{
            "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dxops-model@sha256:" + "0" * 64,
            "ModelDataUrl": f"s3://{bucket}/runs/{run}/model/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}},
    )
print(f"s3://{bucket}/runs/exec-7/model/model.tar.gz")
"#;

/// The promotion state machine's executions, newest first.
fn promotions(moto: &Moto) -> Vec<serde_json::Value> {
    let out = boto3(
        moto,
        r#"
import boto3, json
sfn = boto3.client("stepfunctions")
arn = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "disease-prediction-staging-promote"][0]
print(json.dumps([{"name": e["name"], "status": e["status"]} for e in sfn.list_executions(stateMachineArn=arn)["executions"]]))
"#,
    );
    serde_json::from_str(&out).expect("json")
}

/// Waits (at most a minute) until `count` promotions ran and none runs.
fn settled_promotions(moto: &Moto, count: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = promotions(moto);
        if runs.len() >= count && runs.iter().all(|r| r["status"] != "RUNNING") {
            return runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "promotions did not settle: {runs:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The serving stack's `ModelDataUrl` parameter and the model data of the
/// SageMaker model it made.
fn serving_model_data(moto: &Moto) -> [String; 2] {
    let out = boto3(
        moto,
        r#"
import boto3
cf, sm = boto3.client("cloudformation"), boto3.client("sagemaker")
stack = cf.describe_stacks(StackName="disease-prediction-staging-serving")["Stacks"][0]
given = [p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "ModelDataUrl"][0]
model = cf.describe_stack_resource(StackName=stack["StackName"], LogicalResourceId="Model")["StackResourceDetail"]["PhysicalResourceId"]
print(given)
print(sm.describe_model(ModelName=model.split("/")[-1])["PrimaryContainer"]["ModelDataUrl"])
"#,
    );
    let mut lines = out.lines().map(str::to_string);
    [
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    ]
}

fn decide(moto: &Moto, verb: &str, version: &str, reason: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        verb,
        SPEC,
        "--env",
        "staging",
        "--version",
        version,
        "--reason",
        reason,
    ];
    args.extend_from_slice(extra);
    dxops(moto, &args)
}

#[test]
fn approve_and_reject_on_sagemaker_record_who_why_and_the_evaluation() {
    let moto = Moto::start(&[]);
    let sha = boto3(&moto, REGISTERED).trim().to_string();
    let reason = "reviewed by the clinical board, 2026-12-02";

    let out = decide(&moto, "approve", "1", reason, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(
            "disease-prediction-staging v1: Approved by arn:aws:sts::123456789012:user/moto"
        ),
        "{all}"
    );
    assert!(all.contains(&format!("sha256 {sha}")), "{all}");
    let p = package(&moto, 1);
    assert_eq!(p["status"], "Approved", "{p}");
    assert_eq!(p["description"], reason, "{p}");
    let m = &p["metadata"];
    assert_eq!(m["dxops:decision"], "Approved", "{p}");
    assert_eq!(
        m["dxops:decided-by"], "arn:aws:sts::123456789012:user/moto",
        "{p}"
    );
    // SageMaker's character set: the comma becomes `_`; the full text is the description
    assert_eq!(
        m["dxops:reason"], "reviewed by the clinical board_ 2026-12-02",
        "{p}"
    );
    assert_eq!(
        m["dxops:evaluation-uri"],
        "s3://disease-prediction-staging-artifacts-123456789012/runs/exec-1/evaluation/evaluation.json",
        "{p}"
    );
    assert_eq!(m["dxops:evaluation-sha256"], sha.as_str(), "{p}");
    assert_eq!(m["dxops:macro-f1"], "0.9330", "{p}");
    assert_eq!(m["dxops:worst-class-recall"], "0.8610", "{p}");
    let at = m["dxops:decided-at"].as_str().unwrap_or_default();
    assert!(at.starts_with("20") && at.ends_with('Z'), "{p}");

    // decided once: a second decision on v1 is refused, and says by whom
    let out = decide(&moto, "reject", "1", "changed my mind", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("v1 is already Approved by arn:aws:sts::123456789012:user/moto"),
        "{}",
        text(&out)
    );
    assert_eq!(package(&moto, 1)["status"], "Approved");

    let out = decide(
        &moto,
        "reject",
        "2",
        "recall on lupus too low",
        &["--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["package"]["status"], "Rejected", "{}", text(&out));
    assert_eq!(json["verdict"], "Rejected", "{}", text(&out));
    assert_eq!(package(&moto, 2)["status"], "Rejected");

    // an unknown version names those there are
    let out = decide(&moto, "approve", "9", reason, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("disease-prediction-staging has no version 9 (it has: 1, 2, 3)"),
        "{}",
        text(&out)
    );

    // a blank reason: refused before any call
    let out = decide(&moto, "approve", "3", "  ", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the reason is empty"), "{}", text(&out));
    assert_eq!(package(&moto, 3)["status"], "PendingManualApproval");
}

#[test]
fn approve_without_credentials_is_a_clear_error() {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dxops"));
    cmd.current_dir(root())
        .args([
            "approve",
            SPEC,
            "--env",
            "staging",
            "--version",
            "1",
            "--reason",
            "ok",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no AWS credentials"), "{}", text(&out));
}
