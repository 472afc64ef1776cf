//! `dxops image build` and `dxops image push` for real: two builds give the
//! same digest; a push to Debian's `docker-registry` (the reference
//! implementation of the distribution API, started here on a free loopback
//! port with its storage in a temporary folder, stopped by its pid) is read
//! back with `skopeo`; a second push uploads nothing; an unreachable
//! registry is a clear error with exit 1. `bash .ci/setup` installs both
//! programs.

mod loopback;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use loopback::{Listening, free_port};

use serde_json::Value;

const SPEC: &str = "specs/disease-prediction.yaml";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dxops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dxops"))
        .current_dir(root())
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("dxops runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// A small executable standing in for the model binary.
fn binary(dir: &Path) -> PathBuf {
    let path = dir.join("dxops-model");
    std::fs::write(&path, b"#!/bin/sh\necho dxops-model stand-in\n").unwrap();
    path
}

fn build(binary: &Path, out: &Path) -> Value {
    let text = ok(&dxops(&[
        "image",
        "build",
        "--binary",
        binary.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]));
    serde_json::from_str(&text).expect("json")
}

/// `docker-registry serve` for one test; killed (by its pid) when dropped.
struct Registry {
    server: Listening,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        Registry::serve(false)
    }

    /// Over TLS, as ECR is always HTTPS, with a certificate for 127.0.0.1
    /// from a private CA (`ca.pem` in its folder).
    fn start_tls() -> Registry {
        Registry::serve(true)
    }

    fn serve(tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        if tls {
            // A private CA (`ca.pem`) and the registry's certificate it signed.
            let file = |name: &str| dir.path().join(name);
            let openssl = |args: &[&str]| {
                let made = Command::new("openssl")
                    .args(args)
                    .current_dir(dir.path())
                    .output()
                    .expect("openssl runs (bash .ci/setup installs it)");
                assert!(
                    made.status.success(),
                    "{}",
                    String::from_utf8_lossy(&made.stderr)
                );
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ];
            openssl(
                &[
                    &["req", "-x509"][..],
                    &ec,
                    &[
                        "-days",
                        "1",
                        "-subj",
                        "/CN=dxops test CA",
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.pem",
                    ],
                ]
                .concat(),
            );
            openssl(
                &[
                    &["req"][..],
                    &ec,
                    &[
                        "-subj",
                        "/CN=127.0.0.1",
                        "-keyout",
                        "key.pem",
                        "-out",
                        "leaf.csr",
                    ],
                ]
                .concat(),
            );
            std::fs::write(
                file("leaf.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "leaf.ext",
                "-out",
                "cert.pem",
            ]);
            text.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                file("cert.pem").display(),
                file("key.pem").display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&config)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let server = Listening::spawn(
            cmd,
            port,
            "docker-registry (bash .ci/setup installs Debian's docker-registry)",
            Duration::from_secs(30),
        );
        Registry { server, _dir: dir }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port)
    }

    fn ca(&self) -> PathBuf {
        self._dir.path().join("ca.pem")
    }

    fn port(&self) -> u16 {
        self.server.port
    }
}

/// `dxops image push` of the example spec's staging environment.
fn push(layout: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "image",
        "push",
        SPEC,
        "--env",
        "staging",
        "--layout",
        layout.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    dxops(&args)
}

fn skopeo(args: &[&str]) -> Value {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs (bash .ci/setup installs it)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("skopeo prints json")
}

#[test]
fn two_builds_of_the_same_binary_give_the_same_digest() {
    let dir = tempfile::tempdir().unwrap();
    let bin = binary(dir.path());
    let first = build(&bin, &dir.path().join("a"));
    // Another file time and another folder change nothing.
    std::thread::sleep(Duration::from_millis(1100));
    let copy = dir.path().join("elsewhere");
    std::fs::create_dir(&copy).unwrap();
    let bin2 = binary(&copy);
    let second = build(&bin2, &dir.path().join("b"));
    assert_eq!(first["manifest"], second["manifest"]);
    for file in ["index.json", "oci-layout"] {
        assert_eq!(
            std::fs::read(dir.path().join("a").join(file)).unwrap(),
            std::fs::read(dir.path().join("b").join(file)).unwrap(),
            "{file}"
        );
    }
    // The human output is the digest alone on stdout.
    let out = ok(&dxops(&[
        "image",
        "build",
        "--binary",
        bin.to_str().unwrap(),
        "--out",
        dir.path().join("c").to_str().unwrap(),
    ]));
    assert_eq!(out.trim(), first["manifest"]["digest"].as_str().unwrap());
    // A different binary is a different image.
    std::fs::write(&bin, b"#!/bin/sh\necho other\n").unwrap();
    let other = build(&bin, &dir.path().join("d"));
    assert_ne!(first["manifest"]["digest"], other["manifest"]["digest"]);
    // skopeo reads the layout as an OCI image.
    let inspected = skopeo(&[
        "inspect",
        &format!("oci:{}", dir.path().join("a").display()),
    ]);
    assert_eq!(inspected["Digest"], first["manifest"]["digest"]);
}

#[test]
fn push_to_a_registry_then_push_again_uploads_nothing() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let built = build(&binary(dir.path()), &layout);
    let digest = built["manifest"]["digest"].as_str().unwrap().to_string();
    let push = || {
        let text = ok(&push(
            &layout,
            &["--registry", &registry.url(), "--format", "json"],
        ));
        serde_json::from_str::<Value>(&text).expect("json")
    };
    let first = push();
    assert_eq!(first["digest"], digest.as_str());
    assert_eq!(first["uploaded"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["skipped"].as_array().unwrap().len(), 0, "{first}");
    assert_eq!(first["manifest_existed"], false);
    let repository = first["repository"].as_str().unwrap().to_string();
    let tag = first["tag"].as_str().unwrap().to_string();
    assert_eq!(
        first["reference"],
        format!("127.0.0.1:{}/{repository}@{digest}", registry.port()).as_str()
    );

    let again = push();
    assert_eq!(again["uploaded"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2, "{again}");
    assert_eq!(again["manifest_existed"], true);

    // What the registry holds, read back by another client.
    let image = format!("docker://127.0.0.1:{}/{repository}:{tag}", registry.port());
    let inspected = skopeo(&["inspect", "--tls-verify=false", &image]);
    assert_eq!(inspected["Digest"], digest.as_str());
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    let config = skopeo(&["inspect", "--tls-verify=false", "--config", &image]);
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"][0], "dxops-model");
    assert_eq!(
        config["rootfs"]["diff_ids"][0], built["diff_id"],
        "{config}"
    );
    let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &image]);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(raw["layers"][0]["digest"], built["layer"]["digest"]);
    // By digest too, as deploy's ImageUri names it.
    let by_digest = format!(
        "docker://127.0.0.1:{}/{repository}@{digest}",
        registry.port()
    );
    assert_eq!(
        skopeo(&["inspect", "--tls-verify=false", &by_digest])["Digest"],
        digest.as_str()
    );
}

/// ECR speaks HTTPS only: the push verifies the registry's certificate,
/// against the public roots or the `--ca-bundle` given, and a certificate
/// it cannot verify is a clear error before any upload.
#[test]
fn push_over_tls_verifies_the_registry() {
    let registry = Registry::start_tls();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let built = build(&binary(dir.path()), &layout);
    let push = |extra: &[&str]| push(&layout, extra);
    let url = registry.https_url();
    let refused = push(&["--registry", &url]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(&format!("cannot reach the registry at {url}/v2/"))
            && said.to_lowercase().contains("certificate"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");

    let cert = registry.ca();
    let text = ok(&push(&[
        "--registry",
        &url,
        "--ca-bundle",
        cert.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let pushed: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(pushed["digest"], built["manifest"]["digest"]);
    assert_eq!(pushed["uploaded"].as_array().unwrap().len(), 2, "{pushed}");
    let image = format!(
        "docker://127.0.0.1:{}/{}@{}",
        registry.port(),
        pushed["repository"].as_str().unwrap(),
        pushed["digest"].as_str().unwrap()
    );
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&cert, certs.join("ca.crt")).unwrap();
    let inspected = skopeo(&["inspect", "--cert-dir", certs.to_str().unwrap(), &image]);
    assert_eq!(inspected["Digest"], built["manifest"]["digest"]);

    // A bundle with no certificate in it is named, and nothing is sent.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let out = push(&["--registry", &url, "--ca-bundle", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("holds no PEM certificate to trust"), "{said}");
}

#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build(&binary(dir.path()), &layout);
    let port = free_port();
    let out = push(
        &layout,
        &["--registry", &format!("http://127.0.0.1:{port}")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach the registry at http://127.0.0.1:{port}/v2/"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // No layout at all says what to run.
    let out = push(
        &dir.path().join("missing"),
        &["--registry", &format!("http://127.0.0.1:{port}")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run `dxops image build` first"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
