//! `dxops run`: the pipeline an environment renders, on one machine.
//!
//! A run is driven by the **rendered** files of the environment, not by the
//! spec directly: the data contract (`process.json`), the training step's
//! hyperparameters and the condition step's gates come out of
//! `pipeline.json`, the server's drift settings out of `serving.yaml`. The
//! steps are the same library calls the container runs
//! (`dxops_ml::steps`), in the same SageMaker layout, so a local run
//! cannot drift from the cloud one.
//!
//! ```text
//! <out>/registry/<group>/<version>/...      the local model registry
//! <out>/<run>/stacks/                       the rendered files used
//!            /s3/raw/incoming/{api,iot,batch}/...  records as ingest writes them
//!            /processing  /training  /evaluation  /serving   SageMaker layouts
//!            /run.json  /report.html
//! ```

mod cohort;
mod http;
pub mod lambda;
pub mod registry;
pub mod report;
mod run;
pub mod sagemaker_runtime;
mod serve;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use run::{COHORT_ROWS, RunOptions, ServerCommand, run};

/// Why a run could not go on. Messages name files, rows and columns,
/// never a record's values.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("the spec has problems")]
    Spec(Vec<dxops_spec::spec::Problem>),
    #[error("spec `{spec}` has no environment `{env}` (it has: {available})")]
    UnknownEnvironment {
        spec: String,
        env: String,
        available: String,
    },
    #[error("the data folder {0} does not exist")]
    MissingData(PathBuf),
    #[error(
        "the spec's features {missing} are not columns of the simulated cohort; pass --data with your own records"
    )]
    NotTheCohort { missing: String },
    #[error(transparent)]
    Render(#[from] dxops_spec::render::RenderError),
    #[error("rendered {file}: {message}")]
    Rendered { file: String, message: String },
    #[error("{step}: {source}")]
    Step {
        step: &'static str,
        source: dxops_ml::steps::StepError,
    },
    #[error("port {port} on 127.0.0.1 is in use; pick another with --port")]
    PortInUse { port: u16 },
    #[error("the model server did not become ready: {0}")]
    Server(String),
    #[error("replaying rows to the model server: {0}")]
    Replay(String),
    #[error("registry group `{group}` has no version {version}")]
    UnknownVersion { group: String, version: u32 },
}

impl RunError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> RunError {
        RunError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let text = std::fs::read_to_string(path).map_err(|e| RunError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| RunError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    let mut text = serde_json::to_string_pretty(value).expect("run records serialize");
    text.push('\n');
    write_text(path, &text)
}

pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), RunError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RunError::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| RunError::io(path, e))
}

pub(crate) fn copy_file(from: &Path, to: &Path) -> Result<(), RunError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RunError::io(dir, e))?;
    }
    std::fs::copy(from, to).map_err(|e| RunError::io(from, e))?;
    Ok(())
}

/// Copies a file or a folder tree, as S3 would deliver a prefix; links are
/// not followed (a link out of the tree must not pull files in).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), RunError> {
    let meta = std::fs::symlink_metadata(from).map_err(|e| RunError::io(from, e))?;
    if meta.is_file() {
        return copy_file(from, &to.join(from.file_name().unwrap_or_default()));
    }
    std::fs::create_dir_all(to).map_err(|e| RunError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| RunError::io(from, e))? {
        let entry = entry.map_err(|e| RunError::io(from, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| RunError::io(&entry.path(), e))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            copy_file(&entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The de-identification key of the runs under `out`: `out/deid-key`,
/// created on first use from the system's random source (32 bytes, hex,
/// readable by its owner only) and never replaced (an empty file is
/// written over).
pub(crate) fn local_deid_key(out: &Path) -> Result<String, RunError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = out.join("deid-key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if !text.trim().is_empty() {
            return Ok(text.trim().to_string());
        }
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| RunError::io(Path::new("/dev/urandom"), e))?;
    let key = hex::encode(bytes);
    std::fs::create_dir_all(out).map_err(|e| RunError::io(out, e))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| RunError::io(&path, e))?;
    std::io::Write::write_all(&mut file, key.as_bytes()).map_err(|e| RunError::io(&path, e))?;
    Ok(key)
}

/// The files under `from` dealt out to `instances` shares, as SageMaker's
/// `ShardedByS3Key` does (about 1/n of the objects each; which object goes
/// where is SageMaker's choice, and the processing step's result does not
/// depend on it): in sorted key order, round robin. Each entry is the file
/// and its key relative to `from`. Links are not followed.
pub(crate) fn shard_by_key(
    from: &Path,
    instances: usize,
) -> Result<Vec<Vec<(PathBuf, PathBuf)>>, RunError> {
    let mut files = Vec::new();
    let mut pending = vec![from.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| RunError::io(&dir, e))? {
            let entry = entry.map_err(|e| RunError::io(&dir, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| RunError::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(from).unwrap_or(&path).to_path_buf();
                files.push((path, rel));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut shares = vec![Vec::new(); instances.max(1)];
    for (i, file) in files.into_iter().enumerate() {
        shares[i % instances.max(1)].push(file);
    }
    Ok(shares)
}

/// Outcome of one step of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub status: StepStatus,
    pub seconds: f64,
    /// One line for people: what the step did or why it was skipped.
    pub detail: String,
}

/// Where a run reports its progress (the CLI draws it; tests ignore it).
pub trait Progress {
    fn started(&mut self, step: &str);
    fn finished(&mut self, record: &StepRecord);
}

/// A progress sink that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn started(&mut self, _: &str) {}
    fn finished(&mut self, _: &StepRecord) {}
}

/// The runs kept under `out`, oldest first.
pub fn runs(out: &Path) -> Result<Vec<run::RunSummary>, RunError> {
    if !out.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(out).map_err(|e| RunError::io(out, e))? {
        let entry = entry.map_err(|e| RunError::io(out, e))?;
        let summary = entry.path().join("run.json");
        if summary.is_file() {
            found.push(read_json::<run::RunSummary>(&summary)?);
        }
    }
    found.sort_by(|a, b| a.run.cmp(&b.run));
    Ok(found)
}

pub use run::RunSummary;
