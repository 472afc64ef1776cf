//! ECR for `dxops image push`: the registry and credentials that
//! GetAuthorizationToken gives, replayed in the shapes ECR answers; the
//! Basic header reaching the registry, and its refusal, on a loopback
//! stand-in that answers 401 to everything.

use std::io::{Read, Write};
use std::net::TcpListener;

use aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenOutput;
use aws_sdk_ecr::types::AuthorizationData;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

use dxops_aws::DeployError;
use dxops_aws::image::{self, ImageError, Layout};

fn ecr(rule: &Rule) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_ecr::config::Region::new("eu-west-1"))
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(rule),
            )
            .build(),
    )
}

fn token(proxy: Option<&str>) -> Rule {
    let proxy = proxy.map(str::to_string);
    mock!(aws_sdk_ecr::Client::get_authorization_token).then_output(move || {
        let mut data = AuthorizationData::builder().authorization_token("QVdTOnNlY3JldA==");
        if let Some(p) = &proxy {
            data = data.proxy_endpoint(p);
        }
        GetAuthorizationTokenOutput::builder()
            .authorization_data(data.build())
            .build()
    })
}

#[tokio::test]
async fn the_token_names_the_registry_and_is_sent_as_basic_auth() {
    // A registry that records the first request and refuses it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        String::from_utf8_lossy(&request).to_lowercase()
    });
    let rule = token(Some(&format!("http://127.0.0.1:{port}")));
    let registry = dxops_aws::ecr_registry(&ecr(&rule), None).await.unwrap();
    assert_eq!(registry.host(), format!("127.0.0.1:{port}"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bin"), b"model").unwrap();
    image::build(&dir.path().join("bin"), &dir.path().join("layout"), 0).unwrap();
    let layout = Layout::open(&dir.path().join("layout")).unwrap();
    let err = tokio::task::spawn_blocking(move || {
        image::push(
            &layout,
            &registry,
            "disease-prediction-staging/dxops-model",
            "t1",
        )
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(err, ImageError::Registry { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("refused the credentials"), "{err}");
    let request = server.join().unwrap();
    assert!(
        request.starts_with("head /v2/disease-prediction-staging/dxops-model/blobs/sha256:"),
        "{request}"
    );
    assert!(
        request.contains("authorization: basic qvdtonnly3jlda=="),
        "{request}"
    );
}

#[tokio::test]
async fn a_bare_host_is_https_and_a_missing_token_is_an_error() {
    let rule = token(Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
    let registry = dxops_aws::ecr_registry(&ecr(&rule), None).await.unwrap();
    assert_eq!(
        registry.host(),
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    );
    assert!(format!("{registry:?}").contains("https://123456789012"));
    assert!(
        !format!("{registry:?}").contains("QVdT"),
        "the token is not printed"
    );

    let rule = token(None);
    let err = dxops_aws::ecr_registry(&ecr(&rule), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DeployError::Api {
                operation: "GetAuthorizationToken",
                ..
            }
        ),
        "{err}"
    );
}
