//! `dxops image build` and `dxops image push`: arguments and printing; the
//! image itself is `dxops_aws::image`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use dxops_aws::image::{self, Layout, Registry};

use crate::deploy::{OutFormat, Target};

/// The static model binary that the Dockerfile builds too.
const DEFAULT_BINARY: &str = "target/x86_64-unknown-linux-gnu/release/dxops-model";
const DEFAULT_LAYOUT: &str = "target/dxops-model.oci";

#[derive(Subcommand)]
pub enum ImageCommand {
    #[command(
        about = "Write the dxops-model image as an OCI image layout, reproducibly, without a container engine",
        long_about = "Writes the dxops-model image as an OCI image layout (oci-layout, index.json, \
blobs/sha256/...) with no container engine: one gzip layer holding the binary at \
/usr/local/bin/dxops-model (mode 0755, owner 65532), a sticky /tmp and /etc/passwd and /etc/group entries for the \
non-root user nonroot (65532); a config for linux/amd64 that runs as 65532:65532 with the \
entrypoint dxops-model, PATH=/usr/local/bin and SAGEMAKER_BIND_TO_PORT=8080, exposing 8080/tcp.\n\n\
The build is reproducible: every entry has the mtime SOURCE_DATE_EPOCH (0 when unset), entries \
are sorted and the gzip header has no timestamp or name, so the same binary gives the same \
manifest digest on every run and machine. It prints that digest.\n\n\
The binary should be static (the image has no libc):\n  \
RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --locked -p dxops-model \\\n      \
--target x86_64-unknown-linux-gnu\n\n\
Examples:\n  dxops image build\n  dxops image build --binary ./dxops-model --out /tmp/image --format json\n  \
skopeo inspect oci:target/dxops-model.oci     (any OCI tool reads the layout)\n\n\
Exit codes: 0 written, 1 error (binary missing, --out is not a layout, I/O)."
    )]
    Build(BuildArgs),
    #[command(
        about = "Push an image layout to the environment's ECR repository (or --registry) through the OCI distribution API",
        long_about = "Pushes the layout `dxops image build` wrote through the OCI distribution API: \
for each blob, HEAD to see whether the registry has it (then it is skipped), else POST an upload \
and PUT the blob with its digest; then PUT the manifest by tag and check the Docker-Content-Digest \
the registry returns. A tag that already names this manifest is left as it is, so pushing twice \
uploads nothing and suits ECR's immutable tags.\n\n\
By default it pushes to the ECR repository `dxops bootstrap` created for the environment, with \
credentials from ecr:GetAuthorizationToken (the standard AWS chain; AWS_ENDPOINT_URL honoured). \
--registry URL pushes to any registry instead (no credentials), e.g. a private mirror or a test \
registry on loopback. TLS is verified against the public roots, or against --ca-bundle PEM alone \
(a private CA); there is no way to turn verification off.\n\n\
It prints the image reference with its digest (host/repository@sha256:...), which deploy takes \
as the ImageUri parameter.\n\n\
Examples:\n  dxops image push specs/disease-prediction.yaml --env staging\n  \
dxops deploy specs/disease-prediction.yaml --env staging --parameter ImageUri=<printed reference> ...\n  \
dxops image push specs/disease-prediction.yaml --env staging --registry http://127.0.0.1:5000\n  \
dxops image push specs/disease-prediction.yaml --env staging --registry https://mirror.example.org --ca-bundle ca.pem\n\n\
Exit codes: 0 pushed (or already there), 1 error (no layout, unreachable registry, refused \
credentials, a registry error, a digest the registry disagrees with)."
    )]
    Push(PushArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// The dxops-model binary to put in the image.
    #[arg(long, default_value = DEFAULT_BINARY, value_name = "PATH")]
    binary: PathBuf,
    /// Folder of the OCI image layout (created; a layout from an earlier build is replaced).
    #[arg(long, default_value = DEFAULT_LAYOUT, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(Args)]
pub struct PushArgs {
    #[command(flatten)]
    target: Target,
    /// The OCI image layout to push.
    #[arg(long, default_value = DEFAULT_LAYOUT, value_name = "DIR")]
    layout: PathBuf,
    /// Push to this registry (http:// or https://) instead of the environment's ECR repository.
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
    /// Trust the CA certificates in this PEM file instead of the public
    /// roots (a registry or mirror behind a private CA).
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
    /// Tag to push under; default: the first 12 hex digits of the manifest digest.
    #[arg(long)]
    tag: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

pub fn run(command: ImageCommand) -> Result<ExitCode> {
    match command {
        ImageCommand::Build(args) => build(args),
        ImageCommand::Push(args) => push(args),
    }
}

fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds")),
        _ => Ok(0),
    }
}

fn build(args: BuildArgs) -> Result<ExitCode> {
    let built = image::build(&args.binary, &args.out, source_date_epoch()?)?;
    match args.format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&built)?),
        OutFormat::Human => {
            eprintln!(
                "wrote {} (layer {} bytes, mtime {})",
                built.layout.display(),
                built.layer.size,
                built.epoch
            );
            println!("{}", built.manifest.digest);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn push(args: PushArgs) -> Result<ExitCode> {
    let loaded = crate::deploy::load(&args.target)?;
    let env = loaded.env(&args.target.env)?;
    let repository = env.names.repository.clone();
    let region = env.spec.region.clone();
    let layout = Layout::open(&args.layout)?;
    let tag = args.tag.clone().unwrap_or_else(|| {
        layout
            .manifest
            .digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect()
    });
    let registry = match &args.registry {
        Some(url) => {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "--registry {url}: give a URL such as http://127.0.0.1:5000 or https://registry.example.com"
            );
            Registry::new(url, None)
        }
        None => {
            let rt = crate::deploy::runtime()?;
            rt.block_on(async {
                let aws = dxops_aws::Aws::load().await;
                aws.ecr_registry(&region).await
            })?
        }
    };
    let registry = match &args.ca_bundle {
        Some(path) => registry.trusting(path)?,
        None => registry,
    };
    eprintln!(
        "pushing {} to {}/{repository}:{tag}",
        layout.manifest.digest,
        registry.host()
    );
    let pushed = image::push(&layout, &registry, &repository, &tag)?;
    match args.format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&pushed)?),
        OutFormat::Human => {
            eprintln!(
                "blobs: {} uploaded, {} already there; manifest {}",
                pushed.uploaded.len(),
                pushed.skipped.len(),
                if pushed.manifest_existed {
                    "already tagged"
                } else {
                    "put"
                }
            );
            println!("{}", pushed.reference);
        }
    }
    Ok(ExitCode::SUCCESS)
}
