//! `dxops gateway package` and `dxops gateway push`: the gateway function's
//! code, built from the `dxops-gateway` binary and the environment's
//! rendered data contract; the format itself is `dxops_gateway::package`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::deploy::{Loaded, OutFormat, Target};

/// The static gateway binary, built as the model image's binary is.
const DEFAULT_BINARY: &str = "target/x86_64-unknown-linux-gnu/release/dxops-gateway";

const BUILD_HINT: &str = "RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --locked -p dxops-gateway --target x86_64-unknown-linux-gnu";

#[derive(Subcommand)]
pub enum GatewayCommand {
    #[command(
        about = "Write the gateway function's package (bootstrap and the data contract) as a reproducible zip",
        long_about = "Writes the code of the gateway function that sits between API Gateway and the \
SageMaker endpoint: a zip holding the dxops-gateway binary as `bootstrap` (mode 0755) and the \
environment's rendered data contract as `process.json`, with fixed entry order, times and modes, \
so the same binary and spec give the same bytes. It prints the key the package goes under in the \
deploy bucket (gateway/<sha256>.zip), the serving stack's GatewayCodeKey parameter.\n\n\
The binary should be static (Lambda's provided.al2023 runtime has a libc, but a static binary \
does not depend on its version):\n  \
RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --locked -p dxops-gateway \\\n      \
--target x86_64-unknown-linux-gnu\n\n\
Examples:\n  dxops gateway package specs/disease-prediction.yaml --env staging\n  \
dxops gateway package specs/disease-prediction.yaml --env prod --binary ./dxops-gateway --out /tmp/gw.zip --format json\n\n\
Exit codes: 0 written, 1 error (no binary, no gateway in the environment, I/O)."
    )]
    Package(PackageArgs),
    #[command(
        about = "Package the gateway and upload it to the environment's deploy bucket, once",
        long_about = "Packages the gateway as `dxops gateway package` does and uploads the zip to the \
deploy bucket `dxops bootstrap` made (<spec>-<env>-deploy-<account>, SSE-KMS, only when the bucket \
belongs to the caller's account), which exists before the first deploy and which the deploy role \
reads. The key is content-addressed, so a second push of the same package uploads nothing. \
Credentials come from the standard AWS chain (AWS_ENDPOINT_URL honoured).\n\n\
It prints the key, which deploy takes as the GatewayCodeKey parameter:\n  \
dxops deploy specs/disease-prediction.yaml --env staging --parameter GatewayCodeKey=<printed key> ...\n\n\
Exit codes: 0 uploaded (or already there), 1 error (no binary, no gateway in the environment, \
refused credentials, not bootstrapped)."
    )]
    Push(PushArgs),
}

#[derive(Args)]
pub struct PackageArgs {
    #[command(flatten)]
    target: Target,
    /// The dxops-gateway binary to package.
    #[arg(long, default_value = DEFAULT_BINARY, value_name = "PATH")]
    binary: PathBuf,
    /// Where to write the zip; default: target/<spec>-<env>-gateway.zip.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(Args)]
pub struct PushArgs {
    #[command(flatten)]
    target: Target,
    /// The dxops-gateway binary to package.
    #[arg(long, default_value = DEFAULT_BINARY, value_name = "PATH")]
    binary: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(Serialize)]
struct Packaged {
    path: PathBuf,
    key: String,
    bytes: u64,
}

pub fn run(command: GatewayCommand) -> Result<ExitCode> {
    match command {
        GatewayCommand::Package(args) => {
            let loaded = crate::deploy::load(&args.target)?;
            let out = match &args.out {
                Some(path) => path.clone(),
                None => PathBuf::from(format!(
                    "target/{}-gateway.zip",
                    loaded.env(&args.target.env)?.names.prefix
                )),
            };
            let packaged = package(&loaded, &args.target.env, &args.binary, &out)?;
            match args.format {
                OutFormat::Json => println!("{}", serde_json::to_string_pretty(&packaged)?),
                OutFormat::Human => {
                    eprintln!(
                        "wrote {} ({} bytes)",
                        packaged.path.display(),
                        packaged.bytes
                    );
                    println!("{}", packaged.key);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        GatewayCommand::Push(args) => push(args),
    }
}

fn package(loaded: &Loaded, env: &str, binary: &Path, out: &Path) -> Result<Packaged> {
    let environment = loaded.env(env)?;
    if !environment.spec.serving.gateway_enabled() {
        bail!(
            "environment `{env}` has no gateway function (serving.target is lambda, or serving.gateway.enabled is false)"
        );
    }
    let contract = loaded
        .rendered_file(env, dxops_contract::layout::paths::CONFIG_FILE)
        .context("the environment renders no process.json")?;
    if !binary.is_file() {
        bail!(
            "no gateway binary at {}\nhint: build it with `{BUILD_HINT}`, or pass --binary",
            binary.display()
        );
    }
    let key = dxops_gateway::package(binary, contract.as_bytes(), out)?;
    let bytes = std::fs::metadata(out)
        .with_context(|| format!("cannot read {}", out.display()))?
        .len();
    Ok(Packaged {
        path: out.to_path_buf(),
        key,
        bytes,
    })
}

fn push(args: PushArgs) -> Result<ExitCode> {
    let loaded = crate::deploy::load(&args.target)?;
    let env = loaded.env(&args.target.env)?;
    let dir = tempfile_dir()?;
    let out = dir.join("gateway.zip");
    let packaged = package(&loaded, &args.target.env, &args.binary, &out)?;
    let zip = std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    let region = env.spec.region.clone();
    let uploaded = crate::deploy::runtime()?.block_on(async {
        let aws = dxops_aws::Aws::load().await;
        let caller = aws.identity(&region).await?;
        let Some(boot) = aws.bootstrapped(&env.names, &region, &caller).await? else {
            bail!(
                "{} is not bootstrapped: run `dxops bootstrap {} --env {}` first (its deploy bucket holds the package)",
                env.names.prefix,
                args.target.spec.display(),
                args.target.env
            );
        };
        Ok(aws
            .put_gateway_package(&boot, &env.names.gateway_function, &packaged.key, &zip)
            .await?)
    })?;
    match args.format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&uploaded)?),
        OutFormat::Human => {
            eprintln!(
                "{} s3://{}/{} ({} bytes)",
                if uploaded.uploaded {
                    "uploaded"
                } else {
                    "already there:"
                },
                uploaded.bucket,
                uploaded.key,
                uploaded.bytes
            );
            println!("{}", uploaded.key);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A private folder for the zip before it is uploaded.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("dxops-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
