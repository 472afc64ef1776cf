//! The deployer side of dxops: what `bootstrap`, `diff`, `deploy`,
//! `destroy`, `status`, `approve`/`reject` and `pipeline start` do through
//! the AWS SDK for Rust.
//!
//! It reads what `synth` wrote (the typed [`Manifest`] and the templates
//! beside it) and the validated spec; it never renders. The model image
//! does not depend on this crate, so it never links the AWS SDK.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_config::BehaviorVersion;
use serde_json::Value;

pub use dxops_contract::manifest::{Manifest, ManifestError, Stack};

pub mod bootstrap;
pub mod cfn;
pub mod diff;
mod error;
pub mod image;
pub mod pipeline;
pub mod sagemaker;
pub mod serving;
pub mod templates;

pub use bootstrap::Bootstrapped;
pub use cfn::{Cfn, Event, Outcome, Plan, Progress, Quiet, Retained};
pub use diff::StackDiff;
pub use error::DeployError;
pub use templates::{TemplateBucket, TemplateSource, Uploaded};

#[derive(Debug, thiserror::Error)]
pub enum StacksError {
    #[error("cannot read {path}: {source} (run `dxops synth` first)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a dxops manifest: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Order {
        path: PathBuf,
        source: ManifestError,
    },
}

/// The rendered files of one environment, as `synth` left them in
/// `<out>/<name>/<env>/`.
#[derive(Debug, Clone)]
pub struct RenderedEnvironment {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Template text of every stack, by file name.
    templates: BTreeMap<String, String>,
}

impl RenderedEnvironment {
    /// Reads and checks the manifest of `<stacks>/<name>/<env>/` and the templates it names.
    pub fn open(stacks: &Path, name: &str, env: &str) -> Result<RenderedEnvironment, StacksError> {
        let dir = stacks.join(name).join(env);
        Self::read(dir, |path| std::fs::read_to_string(path))
    }

    /// The same from files rendered in memory (file name → text), as if
    /// they were in `dir`.
    pub fn from_files(
        dir: PathBuf,
        files: &BTreeMap<String, String>,
    ) -> Result<RenderedEnvironment, StacksError> {
        Self::read(dir, |path| {
            path.file_name()
                .and_then(|n| files.get(n.to_string_lossy().as_ref()))
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        })
    }

    fn read(
        dir: PathBuf,
        read: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<RenderedEnvironment, StacksError> {
        let path = dir.join(dxops_contract::manifest::FILE);
        let text = read(&path).map_err(|source| StacksError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|source| StacksError::Parse {
                path: path.clone(),
                source,
            })?;
        manifest
            .check_order()
            .map_err(|source| StacksError::Order { path, source })?;
        let mut templates = BTreeMap::new();
        for stack in &manifest.stacks {
            let file = dir.join(&stack.file);
            let text = read(&file).map_err(|source| StacksError::Read {
                path: file.clone(),
                source,
            })?;
            templates.insert(stack.file.clone(), text);
        }
        Ok(RenderedEnvironment {
            dir,
            manifest,
            templates,
        })
    }

    /// The template file of a stack.
    pub fn template(&self, stack: &Stack) -> PathBuf {
        self.dir.join(&stack.file)
    }

    /// The template text of a stack.
    pub fn template_text(&self, stack: &Stack) -> &str {
        self.templates
            .get(&stack.file)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The template of a stack, parsed.
    pub fn template_value(&self, stack: &Stack) -> Result<Value, DeployError> {
        dxops_spec::yaml::parse_value(self.template_text(stack)).map_err(|e| {
            DeployError::Template {
                file: self.template(stack).display().to_string(),
                message: e.to_string(),
            }
        })
    }

    /// The values of the parameters a stack needs, from `given` (`Key`,
    /// `Value` pairs, the last one of a key winning); `None` where none is
    /// given, which keeps the deployed value.
    pub fn parameters(
        &self,
        stack: &Stack,
        given: &[(String, String)],
    ) -> Vec<(String, Option<String>)> {
        stack
            .parameters
            .iter()
            .map(|name| {
                let value = given.iter().rev().find(|(k, _)| k == name);
                (name.clone(), value.map(|(_, v)| v.clone()))
            })
            .collect()
    }

    /// Whether `destroy` keeps the stack: it retains a store (a bucket or
    /// a key), so deleting the stack would only orphan what holds the data.
    pub fn holds_stores(&self, stack: &Stack) -> bool {
        let Ok(template) = self.template_value(stack) else {
            return true;
        };
        template
            .get("Resources")
            .and_then(Value::as_object)
            .is_some_and(|m| {
                m.values().any(|r| {
                    r.get("DeletionPolicy").and_then(Value::as_str) == Some("Retain")
                        && matches!(
                            r.get("Type").and_then(Value::as_str),
                            Some("AWS::S3::Bucket" | "AWS::KMS::Key")
                        )
                })
            })
    }
}

/// Every parameter of `values` left without one must have a value to keep:
/// the deployed template (`deployed`, `None` when the stack is not deployed)
/// declares it. The first that has none is an error naming it.
pub fn check_kept(
    stack: &Stack,
    values: &[(String, Option<String>)],
    deployed: Option<&Value>,
) -> Result<(), DeployError> {
    let declared = |name: &str| {
        deployed
            .and_then(|t| t.get("Parameters"))
            .and_then(|p| p.get(name))
            .is_some()
    };
    match values.iter().find(|(k, v)| v.is_none() && !declared(k)) {
        Some((name, _)) => Err(DeployError::MissingParameter {
            stack: stack.stack_name.clone(),
            name: name.clone(),
        }),
        None => Ok(()),
    }
}

/// Seconds since the Unix epoch as ISO 8601 UTC (`2026-12-02T14:05:00Z`).
pub fn iso8601(secs: i64) -> String {
    aws_sdk_sagemaker::primitives::DateTime::from_secs(secs)
        .fmt(aws_sdk_sagemaker::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// Credentials, region and endpoint from the standard chain (environment,
/// profile, SSO, instance role; `AWS_ENDPOINT_URL` honoured).
#[derive(Clone)]
pub struct Aws {
    config: aws_config::SdkConfig,
}

/// Who the credentials belong to (STS GetCallerIdentity).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

impl Aws {
    pub async fn load() -> Aws {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .operation_timeout(std::time::Duration::from_secs(120))
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        Aws { config }
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.config.endpoint_url()
    }

    /// CloudFormation in `region`.
    pub fn cloudformation(&self, region: &str) -> Cfn {
        let conf = aws_sdk_cloudformation::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Cfn::new(
            aws_sdk_cloudformation::Client::from_conf(conf),
            self.endpoint().map(str::to_string),
        )
    }

    /// S3 in `region`; path-style addressing when an endpoint is set (an
    /// emulator on loopback has no per-bucket host names).
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .force_path_style(self.endpoint().is_some())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// SageMaker in `region`.
    pub fn sagemaker(&self, region: &str) -> aws_sdk_sagemaker::Client {
        let conf = aws_sdk_sagemaker::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        aws_sdk_sagemaker::Client::from_conf(conf)
    }

    /// The model registry in `region` (S3 reads the evaluations).
    pub fn registry(&self, region: &str) -> sagemaker::Registry {
        sagemaker::Registry::new(
            self.sagemaker(region),
            Some(self.s3(region)),
            self.endpoint().map(str::to_string),
        )
    }

    /// SageMaker pipelines in `region`.
    pub fn pipelines(&self, region: &str) -> pipeline::Pipelines {
        pipeline::Pipelines::new(self.sagemaker(region), self.endpoint().map(str::to_string))
    }

    /// The endpoint `name` in `region`; `None` when it does not exist.
    pub async fn endpoint_status(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<serving::Endpoint>, DeployError> {
        serving::describe(&self.sagemaker(region), self.endpoint(), name).await
    }

    /// The bootstrap's deploy bucket, for templates over the inline limit.
    pub fn template_bucket(&self, boot: &Bootstrapped) -> TemplateBucket {
        TemplateBucket::of(
            self.s3(&boot.region),
            self.endpoint().map(str::to_string),
            boot,
        )
    }

    /// In hash mode, the de-identification key the processing step mounts
    /// and the gateway reads: 32 random bytes (the TLS provider's CSPRNG),
    /// hex-encoded, written to the artifacts bucket under
    /// [`dxops_contract::layout::paths::DEID_KEY_OBJECT`] (encrypted with
    /// the bucket's default, the data key) when no key is there yet. An
    /// existing key is never replaced: a new one would break every link
    /// between earlier pseudonyms and later ones. Returns whether it was
    /// written now.
    pub async fn ensure_deid_key(
        &self,
        boot: &Bootstrapped,
        artifacts_bucket: &str,
    ) -> Result<bool, DeployError> {
        let mut key = [0u8; 32];
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut key)
            .map_err(|_| DeployError::Random)?;
        let bucket = TemplateBucket::new(
            self.s3(&boot.region),
            self.endpoint().map(str::to_string),
            artifacts_bucket,
            &boot.region,
            Some(&boot.account),
        );
        let written = bucket
            .put_once(
                "the de-identification key",
                dxops_contract::layout::paths::DEID_KEY_OBJECT,
                hex::encode(key).as_bytes(),
                "text/plain",
                None,
            )
            .await?;
        Ok(written.uploaded)
    }

    /// Uploads the gateway function's package to the bootstrap's deploy
    /// bucket under `key` (content-addressed: once), encrypted as templates
    /// are. The deploy role may read it, so CloudFormation can create the
    /// function from it.
    pub async fn put_gateway_package(
        &self,
        boot: &Bootstrapped,
        function: &str,
        key: &str,
        zip: &[u8],
    ) -> Result<templates::Uploaded, DeployError> {
        self.template_bucket(boot)
            .put_once(
                function,
                key,
                zip,
                "application/zip",
                Some(aws_sdk_s3::types::ServerSideEncryption::AwsKms),
            )
            .await
    }

    /// A stack's template as a change set takes it: inline when it fits,
    /// else through the deploy bucket (which needs the bootstrap).
    pub async fn template_source(
        &self,
        boot: Option<&Bootstrapped>,
        stack_name: &str,
        body: &str,
    ) -> Result<TemplateSource, DeployError> {
        match boot {
            Some(boot) => self.template_bucket(boot).source(stack_name, body).await,
            None => TemplateSource::inline(stack_name, body),
        }
    }

    /// What `dxops bootstrap` left for the environment, or `None` before
    /// the first bootstrap (or while it is not complete). The names follow
    /// from the environment and the caller's account and partition.
    pub async fn bootstrapped(
        &self,
        names: &dxops_spec::spec::names::Names,
        region: &str,
        caller: &Identity,
    ) -> Result<Option<Bootstrapped>, DeployError> {
        let stack = self
            .cloudformation(region)
            .stack(&names.stack_bootstrap)
            .await?;
        Ok(stack
            .filter(|s| matches!(s.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE"))
            .map(|_| Bootstrapped::of(names, region, caller)))
    }

    /// The environment's ECR registry in `region`, with the Basic
    /// credentials of ecr:GetAuthorizationToken (valid for 12 hours).
    pub async fn ecr_registry(&self, region: &str) -> Result<image::Registry, DeployError> {
        let conf = aws_sdk_ecr::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        ecr_registry(&aws_sdk_ecr::Client::from_conf(conf), self.endpoint()).await
    }

    /// Checks the credentials before anything else is called.
    pub async fn identity(&self, region: &str) -> Result<Identity, DeployError> {
        let conf = aws_sdk_sts::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error::classify("GetCallerIdentity", "the caller", self.endpoint(), e))?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
        })
    }
}

/// The registry of `client`'s account with the Basic credentials of
/// ecr:GetAuthorizationToken (valid for 12 hours).
pub async fn ecr_registry(
    client: &aws_sdk_ecr::Client,
    endpoint: Option<&str>,
) -> Result<image::Registry, DeployError> {
    let out = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| error::classify("GetAuthorizationToken", "ECR", endpoint, e))?;
    let data = out.authorization_data().first();
    let (Some(token), Some(proxy)) = (
        data.and_then(|d| d.authorization_token()),
        data.and_then(|d| d.proxy_endpoint()),
    ) else {
        return Err(DeployError::Api {
            operation: "GetAuthorizationToken",
            stack: "ECR".into(),
            code: None,
            message: "the answer holds no token or proxy endpoint".into(),
        });
    };
    let base = if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("https://{proxy}")
    };
    Ok(image::Registry::new(&base, Some(format!("Basic {token}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving() -> Stack {
        Stack {
            file: "serving.yaml".into(),
            stack_name: "p-staging-serving".into(),
            region: "eu-west-1".into(),
            parameters: vec!["ImageUri".into(), "ModelDataUrl".into()],
            exports: vec![],
            imports: vec![],
        }
    }

    #[test]
    fn a_parameter_not_given_keeps_a_deployed_value_only_where_there_is_one() {
        let values = vec![
            ("ImageUri".to_string(), Some("i@sha256:1".to_string())),
            ("ModelDataUrl".to_string(), None),
        ];
        let stack = serving();
        let deployed = serde_json::json!({"Parameters": {"ImageUri": {}, "ModelDataUrl": {}}});
        assert!(check_kept(&stack, &values, Some(&deployed)).is_ok());
        let older = serde_json::json!({"Parameters": {"ImageUri": {}}});
        for template in [None, Some(&older)] {
            let err = check_kept(&stack, &values, template).unwrap_err();
            assert!(
                matches!(&err, DeployError::MissingParameter { stack, name }
                    if stack == "p-staging-serving" && name == "ModelDataUrl"),
                "{err}"
            );
        }
    }
}
