//! The gateway function between API Gateway and the endpoint.
//!
//! First through the SDK's own test utilities (`aws-smithy-mocks`): what
//! reaches `InvokeEndpoint` (checked rows, no identifiers, the inference
//! id) and what the client is told for each way SageMaker answers. Then
//! the real `dxops-gateway` binary under a local Lambda Runtime API, its
//! SDK calling a local SageMaker Runtime in front of the real model server,
//! against the same server's direct answers.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_sagemakerruntime::operation::invoke_endpoint::{
    InvokeEndpointError, InvokeEndpointOutput,
};
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::error::{ModelError, ModelNotReadyException};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use serde_json::{Value, json};

use dxops_contract::data::{DataContract, IdentifierHandling};
use dxops_gateway::Gateway;
use dxops_local::lambda::{Outcome, RuntimeApi, function_environment};
use dxops_local::sagemaker_runtime::SageMakerRuntime;

#[path = "serve_support/wdbc.rs"]
mod wdbc;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const ENDPOINT: &str = "disease-prediction-staging";

/// The data contract the staging environment renders.
fn staging_contract() -> DataContract {
    let path = format!("{ROOT}/stacks/disease-prediction/staging/process.json");
    dxops_gateway::read_contract(Path::new(&path)).expect("rendered contract")
}

/// A client of one SDK crate that answers from `rules` (smithy-mocks).
macro_rules! mock_client {
    ($sdk:ident, $rules:expr) => {{
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .with_test_defaults()
                .region($sdk::config::Region::new("eu-west-1"))
                .retry_config($sdk::config::retry::RetryConfig::disabled())
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }};
}

fn client(rules: &[&Rule]) -> aws_sdk_sagemakerruntime::Client {
    mock_client!(aws_sdk_sagemakerruntime, rules)
}

fn event(content_type: &str, body: &str) -> Value {
    json!({
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": content_type, "Accept": "application/json"},
        "requestContext": {"requestId": "c0ffee00-1111-2222-3333-444455556666", "stage": "v1"},
        "body": body,
        "isBase64Encoded": false,
    })
}

/// One staging instance: a patient's identifier and every feature.
fn instance(patient: &str, age: f64) -> Value {
    json!({
        "patient_id": patient,
        "age": age, "sex": 1, "bmi": 27.4, "systolic_bp": 141, "diastolic_bp": 88,
        "heart_rate": 77, "temperature": 36.9, "glucose": 162, "hba1c": 7.9,
        "creatinine": 1.1, "crp": 4.2, "wbc": 7.1, "hemoglobin": 13.8,
        "smoker": false, "fever": 0, "cough": 0, "fatigue": 1, "dyspnea": 0,
        "polyuria": 1, "rash": 0, "joint_pain": 0, "sweating": 0,
    })
}

const PREDICTION: &str = r#"{"predictions":[{"predicted_label":"type2_diabetes","probabilities":{"healthy":0.1,"type2_diabetes":0.9},"out_of_range":false,"out_of_range_features":[]}]}"#;

async fn handle(
    gateway: &Gateway,
    client: &aws_sdk_sagemakerruntime::Client,
    event: &Value,
) -> Value {
    gateway.handle(client, event, "lambda-request-1").await
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("JSON body")
}

#[tokio::test]
async fn checked_rows_reach_the_endpoint_without_identifiers_under_the_apis_request_id() {
    let contract = staging_contract();
    let features = contract.features.len();
    let invoke = mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint)
        .match_requests(move |r| {
            let sent =
                std::str::from_utf8(r.body().as_ref().map(|b| b.as_ref()).unwrap_or_default())
                    .unwrap_or_default()
                    .to_string();
            r.endpoint_name() == Some(ENDPOINT)
                && r.content_type() == Some("text/csv")
                && r.accept() == Some("application/json")
                && r.inference_id() == Some("c0ffee00-1111-2222-3333-444455556666")
                && !sent.contains("P-7731")
                && sent.starts_with("63,1,27.4,141,88,")
                && sent.trim_end().split(',').count() == features
        })
        .then_output(|| {
            InvokeEndpointOutput::builder()
                .body(Blob::new(PREDICTION))
                .content_type("application/json")
                .build()
        });
    let client = client(&[&invoke]);
    let gateway = Gateway::new(&contract, ENDPOINT, None, "dxops").unwrap();
    let body_text = json!({"instances": [instance("P-7731", 63.0)]}).to_string();
    let response = handle(&gateway, &client, &event("application/json", &body_text)).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(invoke.num_calls(), 1);
    assert_eq!(
        response["headers"]["x-dxops-inference-id"],
        "c0ffee00-1111-2222-3333-444455556666"
    );
    let answer = body(&response);
    assert_eq!(
        answer["inference_id"],
        "c0ffee00-1111-2222-3333-444455556666"
    );
    assert_eq!(
        answer["predictions"][0]["predicted_label"],
        "type2_diabetes"
    );
    assert!(answer["predictions"][0].get("pseudonyms").is_none());
}

#[tokio::test]
async fn hash_mode_answers_with_the_processing_steps_pseudonyms() {
    let mut contract = staging_contract();
    contract.identifier_handling = IdentifierHandling::Hash;
    assert!(matches!(
        Gateway::new(&contract, ENDPOINT, None, "dxops"),
        Err(dxops_gateway::GatewayError::MissingKey(..))
    ));
    let invoke = mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint)
        .match_requests(|r| {
            !String::from_utf8_lossy(r.body().as_ref().map(|b| b.as_ref()).unwrap_or_default())
                .contains("P-7731")
        })
        .then_output(|| {
            InvokeEndpointOutput::builder()
                .body(Blob::new(PREDICTION))
                .content_type("application/json")
                .build()
        });
    let client = client(&[&invoke]);
    let gateway = Gateway::new(&contract, ENDPOINT, Some(b"site-key".to_vec()), "dxops").unwrap();
    let body_text = json!([instance("P-7731", 63.0)]).to_string();
    let response = handle(&gateway, &client, &event("application/json", &body_text)).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    let answer = body(&response);
    assert_eq!(
        answer["predictions"][0]["pseudonyms"]["patient_id"],
        dxops_ml::process::keyed_hash(b"site-key", "P-7731")
    );
}

/// In hash mode on AWS the key is the object `dxops deploy` wrote: read
/// once, trimmed as the processing step trims its mounted copy, and a
/// missing or empty object is an error naming where it looked.
#[tokio::test]
async fn hash_mode_reads_the_key_from_its_object() {
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    let s3 = |rules: &[&Rule]| mock_client!(aws_sdk_s3, rules);
    let found = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.bucket() == Some("arts-123") && r.key() == Some("secrets/deid-key"))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    b"  5ec7e7\n",
                ))
                .build()
        });
    let key = dxops_gateway::read_key_object(&s3(&[&found]), "s3://arts-123/secrets/deid-key")
        .await
        .unwrap();
    assert_eq!(key, b"5ec7e7");
    assert_eq!(found.num_calls(), 1);

    let missing = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
        GetObjectError::NoSuchKey(aws_sdk_s3::types::error::NoSuchKey::builder().build())
    });
    let empty = mock!(aws_sdk_s3::Client::get_object).then_output(|| {
        GetObjectOutput::builder()
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"\n"))
            .build()
    });
    for (rule, uri, says) in [
        (&missing, "s3://arts-123/secrets/deid-key", "NoSuchKey"),
        (&empty, "s3://arts-123/secrets/deid-key", "empty"),
        (&empty, "arts-123/secrets/deid-key", "not an s3://"),
    ] {
        let err = dxops_gateway::read_key_object(&s3(&[rule]), uri)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(uri) && err.contains(says), "{err}");
    }
}

#[tokio::test]
async fn a_refused_request_never_reaches_the_endpoint() {
    let invoke = mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint)
        .then_output(|| InvokeEndpointOutput::builder().build());
    let client = client(&[&invoke]);
    let gateway = Gateway::new(&staging_contract(), ENDPOINT, None, "dxops").unwrap();
    let cases = [
        (
            json!([instance("P-1", 430.0)]).to_string(),
            422,
            Some("age"),
        ),
        (r#"[{"age": "sixty-three"}]"#.to_string(), 400, Some("age")),
        (r#"[{"age": 63, "Jane Roe": 1}]"#.to_string(), 400, None),
    ];
    for (text, status, column) in cases {
        let response = handle(&gateway, &client, &event("application/json", &text)).await;
        assert_eq!(response["statusCode"], status, "{response}");
        let answer = body(&response);
        assert_eq!(answer["column"].as_str(), column, "{answer}");
        let shown = response["body"].as_str().unwrap();
        assert!(
            !shown.contains("430") && !shown.contains("sixty") && !shown.contains("Jane"),
            "{shown}"
        );
    }
    let response = handle(&gateway, &client, &event("text/plain", "63")).await;
    assert_eq!(response["statusCode"], 415);
    assert_eq!(invoke.num_calls(), 0);
}

#[tokio::test]
async fn the_endpoints_failures_are_told_without_sagemakers_messages() {
    let model_error = |status: i32, message: &'static str| {
        mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint).then_error(move || {
            InvokeEndpointError::ModelError(
                ModelError::builder()
                    .original_status_code(status)
                    .original_message(message)
                    .build(),
            )
        })
    };
    const TOO_MANY: &str = "the payload holds more than 100000 rows; send it in smaller batches";
    let cases: Vec<(&str, Rule, u16, Option<&str>)> = vec![
        (
            "the container's own 4xx, with its message",
            model_error(
                413,
                r#"{"error":"the payload holds more than 100000 rows; send it in smaller batches","row":null,"column":null}"#,
            ),
            413,
            Some(TOO_MANY),
        ),
        (
            "the container's 5xx, without its text",
            model_error(500, "panicked at src/artifact.rs"),
            502,
            Some("the model failed to answer"),
        ),
        (
            "a model not ready yet",
            mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint).then_error(|| {
                InvokeEndpointError::ModelNotReadyException(
                    ModelNotReadyException::builder()
                        .message("not ready")
                        .build(),
                )
            }),
            503,
            None,
        ),
        (
            "throttling, as the wire says it",
            mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint).then_http_response(|| {
                aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                    aws_smithy_types::body::SdkBody::from(
                        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                    ),
                )
            }),
            429,
            None,
        ),
        (
            "an answer that is not the JSON asked for",
            mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint).then_output(|| {
                InvokeEndpointOutput::builder()
                    .body(Blob::new("label,p\n"))
                    .content_type("text/csv")
                    .build()
            }),
            502,
            None,
        ),
    ];
    let gateway = Gateway::new(&staging_contract(), ENDPOINT, None, "dxops").unwrap();
    let text = json!([instance("P-1", 63.0)]).to_string();
    for (case, rule, status, error) in cases {
        let response = handle(
            &gateway,
            &client(&[&rule]),
            &event("application/json", &text),
        )
        .await;
        assert_eq!(response["statusCode"], status, "{case}: {response}");
        let shown = response["body"].as_str().unwrap();
        assert!(
            !shown.contains("panicked") && !shown.contains("Rate exceeded"),
            "{case}: {shown}"
        );
        if let Some(error) = error {
            assert_eq!(body(&response)["error"], error, "{case}");
        }
    }
}

#[test]
fn packages_are_reproducible_and_content_addressed() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("dxops-gateway");
    std::fs::write(&binary, b"\x7fELF not really").unwrap();
    let contract = std::fs::read(format!(
        "{ROOT}/stacks/disease-prediction/staging/process.json"
    ))
    .unwrap();
    let a = dxops_gateway::package(&binary, &contract, &dir.path().join("a.zip")).unwrap();
    let b = dxops_gateway::package(&binary, &contract, &dir.path().join("b.zip")).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(dir.path().join("a.zip")).unwrap(),
        std::fs::read(dir.path().join("b.zip")).unwrap()
    );
    assert!(
        a.starts_with("gateway/") && a.ends_with(".zip") && a.len() == "gateway/".len() + 64 + 4,
        "{a}"
    );
    let prod = std::fs::read(format!(
        "{ROOT}/stacks/disease-prediction/prod/process.json"
    ))
    .unwrap();
    let c = dxops_gateway::package(&binary, &prod, &dir.path().join("c.zip")).unwrap();
    assert_eq!(a == c, contract == prod);
    let err = dxops_gateway::package(&binary, b"{}", &dir.path().join("d.zip")).unwrap_err();
    assert!(err.to_string().contains("not a data contract"), "{err}");
}

// ---- the real binary, the local Runtime API and the local SageMaker Runtime

/// A model trained by the library's training step, served by the real
/// server on a free loopback port.
fn serve_model(root: &Path, train: &str) -> std::net::SocketAddr {
    let layout = dxops_contract::layout::Layout::new(root);
    let channel = layout.channel(dxops_contract::layout::paths::TRAIN_CHANNEL);
    std::fs::create_dir_all(&channel).unwrap();
    std::fs::write(channel.join("train.csv"), train).unwrap();
    let hp = layout.hyperparameters();
    std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
    std::fs::write(&hp, r#"{"label": "label"}"#).unwrap();
    dxops_ml::steps::train(&layout).expect("training");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options =
        dxops_ml::serve::ServeOptions::resolve(root, [127, 0, 0, 1].into(), Some(port)).unwrap();
    std::thread::spawn(move || dxops_ml::serve::run(options));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..500 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return addr;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the model server did not listen");
}

/// The WDBC contract the gateway reads: every feature numeric and
/// non-negative, and a patient identifier.
fn wdbc_contract(features: &[String]) -> Value {
    json!({
        "label": "label",
        "identifiers": ["patient_id"],
        "identifier_handling": "drop",
        "features": features.iter().map(|f| json!({"name": f, "type": "numeric", "min": 0.0})).collect::<Vec<_>>(),
        "quality": [],
        "rare_class_max_samples": 10,
        "split": {"validation": 0.15, "test": 0.15, "seed": 42},
    })
}

struct Function {
    child: Child,
    api: RuntimeApi,
    stderr: PathBuf,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(task_root: &Path, endpoint: &str, runtime_url: &str) -> Function {
    let api = RuntimeApi::default();
    let addr = api.start().unwrap();
    let stderr = task_root.join("gateway.log");
    let child = Command::new(env!("CARGO_BIN_EXE_dxops-gateway"))
        .env_clear()
        .envs(function_environment(addr, "disease-gateway"))
        .env("LAMBDA_TASK_ROOT", task_root)
        .env("DXOPS_ENDPOINT_NAME", endpoint)
        .env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    Function { child, api, stderr }
}

fn invoke(f: &Function, id: &str, event: &Value) -> Value {
    match f.api.invoke(id, event, Duration::from_secs(30)) {
        Some(Outcome::Response(r)) => r,
        other => panic!(
            "no answer to {id}: {other:?}\n{}",
            std::fs::read_to_string(&f.stderr).unwrap_or_default()
        ),
    }
}

#[test]
fn the_binary_answers_through_sagemaker_runtime_as_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let (train, split) = wdbc::split_data();
    let (features, fresh) = (split.header, split.fresh);
    let model = serve_model(&dir.path().join("ml"), &train);
    let runtime = SageMakerRuntime::new("wdbc-local", model);
    let url = runtime.start().unwrap();
    let task = dir.path().join("task");
    std::fs::create_dir_all(&task).unwrap();
    let mut f = std::fs::File::create(task.join(dxops_gateway::CONTRACT_FILE)).unwrap();
    f.write_all(wdbc_contract(&features).to_string().as_bytes())
        .unwrap();
    let gateway = start_gateway(&task, "wdbc-local", &url);

    let mut direct = dxops_local_client(model);
    for (i, row) in fresh.iter().take(5).enumerate() {
        let csv = format!("{}\n", row.join(","));
        let expected: Value = serde_json::from_slice(&direct(&csv)).unwrap();
        let mut object = serde_json::Map::new();
        object.insert("patient_id".into(), json!(format!("MRN-{i:05}")));
        for (name, v) in features.iter().zip(row) {
            object.insert(name.clone(), json!(v.parse::<f64>().unwrap()));
        }
        let mut e = event(
            "application/json",
            &json!({"instances": [object]}).to_string(),
        );
        e["requestContext"]["requestId"] = json!(format!("api-{i}"));
        let answer = invoke(&gateway, &format!("lambda-{i}"), &e);
        assert_eq!(answer["statusCode"], 200, "{answer}");
        let got = body(&answer);
        assert_eq!(got["predictions"], expected["predictions"], "row {i}");
        assert_eq!(got["inference_id"], format!("api-{i}"));
        // The model server answered this very call.
        assert!(runtime.container_id(&format!("api-{i}")).is_some());
    }

    // The contract's floor, before the endpoint.
    let mut negative: Vec<String> = fresh[0].clone();
    negative[3] = "-1".into();
    let e = event("text/csv", &format!("{}\n", negative.join(",")));
    let answer = invoke(&gateway, "lambda-negative", &e);
    assert_eq!(answer["statusCode"], 422, "{answer}");
    assert_eq!(body(&answer)["column"], features[3].as_str());

    // No patient value in the function's log.
    let log = std::fs::read_to_string(&gateway.stderr).unwrap();
    assert!(!log.contains("MRN-0000"), "{log}");
    assert!(log.contains("\"route\":\"gateway\""), "{log}");

    // An endpoint the runtime does not have: SageMaker's ValidationError, a 502.
    drop(gateway);
    let wrong = start_gateway(&task, "not-this-endpoint", &url);
    let answer = invoke(
        &wrong,
        "lambda-wrong",
        &event("text/csv", &format!("{}\n", fresh[0].join(","))),
    );
    assert_eq!(answer["statusCode"], 502, "{answer}");
    let log = std::fs::read_to_string(&wrong.stderr).unwrap();
    assert!(log.contains("ValidationError"), "{log}");
}

#[test]
fn the_binary_refuses_to_start_without_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dxops-gateway"))
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_LAMBDA_RUNTIME_API"));
    let api = RuntimeApi::default();
    let addr = api.start().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dxops-gateway"))
        .env_clear()
        .envs(function_environment(addr, "g"))
        .env("LAMBDA_TASK_ROOT", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("process.json"), "{err}");
    let help = Command::new(env!("CARGO_BIN_EXE_dxops-gateway"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("DXOPS_ENDPOINT_NAME"));
}

/// The model server's own answer to CSV rows.
fn dxops_local_client(addr: std::net::SocketAddr) -> impl FnMut(&str) -> Vec<u8> {
    move |csv: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let request = format!(
            "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{csv}",
            csv.len()
        );
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut out).unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        out[split + 4..].to_vec()
    }
}
