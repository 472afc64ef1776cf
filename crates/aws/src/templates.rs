//! Where a change set's template comes from: inline (`TemplateBody`) up to
//! CloudFormation's 51,200 bytes, otherwise an object in the bootstrap's
//! deploy bucket (`TemplateURL`).
//!
//! The object's key is the stack name and the sha256 of the body, so the
//! same template is uploaded once (a second deploy finds it and uploads
//! nothing) and a key never names two different templates. Objects are
//! encrypted the way `dxops bootstrap` sets the bucket's default (SSE-KMS
//! with the bucket key), and written only when the bucket belongs to the
//! caller's account.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use sha2::{Digest, Sha256};

use crate::Bootstrapped;
use crate::error::{DeployError, classify};

/// CloudFormation refuses template bodies larger than this; larger ones
/// need an upload to S3 first.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// What a change set is created from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// `TemplateBody`: the text itself.
    Body(String),
    /// `TemplateURL`: the uploaded template.
    Url(Uploaded),
}

impl TemplateSource {
    /// The text inline, or an error when it is over the limit and so
    /// needs the deploy bucket.
    pub fn inline(stack_name: &str, body: &str) -> Result<TemplateSource, DeployError> {
        if body.len() > TEMPLATE_BODY_LIMIT {
            return Err(DeployError::NeedsTemplateBucket {
                stack: stack_name.into(),
                bytes: body.len(),
            });
        }
        Ok(TemplateSource::Body(body.to_string()))
    }
}

/// A template in the deploy bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Uploaded {
    pub bucket: String,
    pub key: String,
    /// The URL CloudFormation reads it from.
    pub url: String,
    /// `false` when the object was already there (same stack, same body).
    pub uploaded: bool,
    pub bytes: usize,
}

/// The key of a stack's template in the deploy bucket: content-addressed.
pub fn key(stack_name: &str, body: &str) -> String {
    let digest = hex::encode(Sha256::digest(body.as_bytes()));
    format!("templates/{stack_name}/{digest}.template")
}

/// The virtual-hosted URL of an object, as CloudFormation wants it
/// (`https://<bucket>.s3.<region>.amazonaws.com/<key>`; `.com.cn` in the
/// China partition). Emulators resolve the same URL against their own S3.
pub fn object_url(bucket: &str, region: &str, key: &str) -> String {
    let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
    format!("https://{bucket}.s3.{region}.amazonaws.com{suffix}/{key}")
}

/// The bootstrap's deploy bucket, through S3 in the bucket's region.
#[derive(Clone)]
pub struct TemplateBucket {
    client: Client,
    endpoint: Option<String>,
    bucket: String,
    region: String,
    owner: Option<String>,
}

impl TemplateBucket {
    /// `owner` is the account the bucket must belong to (S3's
    /// `ExpectedBucketOwner`): a write never lands in someone else's bucket.
    pub fn new(
        client: Client,
        endpoint: Option<String>,
        bucket: &str,
        region: &str,
        owner: Option<&str>,
    ) -> TemplateBucket {
        TemplateBucket {
            client,
            endpoint,
            bucket: bucket.into(),
            region: region.into(),
            owner: owner.map(str::to_string),
        }
    }

    /// The deploy bucket a bootstrap left.
    pub fn of(client: Client, endpoint: Option<String>, boot: &Bootstrapped) -> TemplateBucket {
        TemplateBucket::new(
            client,
            endpoint,
            &boot.bucket,
            &boot.region,
            Some(&boot.account),
        )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The template inline when it fits, else uploaded (once) and by URL.
    pub async fn source(
        &self,
        stack_name: &str,
        body: &str,
    ) -> Result<TemplateSource, DeployError> {
        if body.len() <= TEMPLATE_BODY_LIMIT {
            return Ok(TemplateSource::Body(body.to_string()));
        }
        Ok(TemplateSource::Url(self.put(stack_name, body).await?))
    }

    /// Uploads the body under its content-addressed key unless an object is
    /// already there.
    pub async fn put(&self, stack_name: &str, body: &str) -> Result<Uploaded, DeployError> {
        let key = key(stack_name, body);
        self.put_once(
            stack_name,
            &key,
            body.as_bytes(),
            "text/plain; charset=utf-8",
            Some(ServerSideEncryption::AwsKms),
        )
        .await
    }

    /// Writes `bytes` under `key` unless an object is already there (keys
    /// are content-addressed, so one that exists holds these bytes). `what`
    /// names the upload in errors. `sse`: the encryption asked for, else
    /// the bucket's default.
    pub async fn put_once(
        &self,
        what: &str,
        key: &str,
        bytes: &[u8],
        content_type: &str,
        sse: Option<ServerSideEncryption>,
    ) -> Result<Uploaded, DeployError> {
        let upload_error = |e: DeployError| match e {
            DeployError::Api { code, message, .. } => DeployError::Upload {
                stack: what.into(),
                location: format!("s3://{}/{key}", self.bucket),
                bytes: bytes.len(),
                code,
                message,
            },
            other => other,
        };
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.owner.clone())
            .send()
            .await;
        let exists = match head {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
            Err(e) => {
                return Err(upload_error(classify(
                    "HeadObject",
                    what,
                    self.endpoint.as_deref(),
                    e,
                )));
            }
        };
        if !exists {
            let sse_kms = sse.is_some();
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(bytes.to_vec()))
                .content_type(content_type)
                .set_server_side_encryption(sse)
                .set_bucket_key_enabled(sse_kms.then_some(true))
                .set_expected_bucket_owner(self.owner.clone())
                .send()
                .await
                .map_err(|e| {
                    upload_error(classify("PutObject", what, self.endpoint.as_deref(), e))
                })?;
        }
        Ok(Uploaded {
            url: object_url(&self.bucket, &self.region, key),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            uploaded: !exists,
            bytes: bytes.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_content() {
        let a = key("s-ml", "Resources: {}\n");
        assert_eq!(a, key("s-ml", "Resources: {}\n"));
        assert_ne!(a, key("s-ml", "Resources: { A: 1 }\n"));
        assert_ne!(a, key("s-serving", "Resources: {}\n"));
        assert!(a.starts_with("templates/s-ml/"), "{a}");
        // sha256 in hex
        assert_eq!(a.len(), "templates/s-ml/".len() + 64 + ".template".len());
    }

    #[test]
    fn urls_are_virtual_hosted_per_partition() {
        assert_eq!(
            object_url("b", "eu-west-1", "templates/x"),
            "https://b.s3.eu-west-1.amazonaws.com/templates/x"
        );
        assert_eq!(
            object_url("b", "cn-north-1", "k"),
            "https://b.s3.cn-north-1.amazonaws.com.cn/k"
        );
    }

    #[test]
    fn small_bodies_stay_inline_large_ones_need_the_bucket() {
        let small = "x".repeat(TEMPLATE_BODY_LIMIT);
        assert_eq!(
            TemplateSource::inline("s", &small).unwrap(),
            TemplateSource::Body(small.clone())
        );
        let large = "x".repeat(TEMPLATE_BODY_LIMIT + 1);
        let err = TemplateSource::inline("s", &large).unwrap_err();
        assert!(
            err.to_string().contains("51201 bytes") && err.to_string().contains("dxops bootstrap"),
            "{err}"
        );
    }
}
