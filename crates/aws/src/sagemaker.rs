//! SageMaker's model registry: the versions of the environment's model
//! package group, and the decision a person records on one
//! (`dxops approve|reject`).
//!
//! A decision is UpdateModelPackage with the approval status, the reason
//! as `ApprovalDescription`, and in `CustomerMetadataProperties` who
//! decided (the caller's ARN from STS), when, why, and the evaluation the
//! decision was made on: the package's metrics URI and, when it can be
//! read, the sha256 of that `evaluation.json` and its headline metrics, so
//! a later change of the object shows.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::primitives::DateTime;
use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageSortBy, SortOrder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Identity;
use crate::error::{DeployError, classify};

/// SageMaker's limit on `ApprovalDescription`.
pub const REASON_MAX: usize = 1024;
/// SageMaker's limit on a `CustomerMetadataProperties` value.
const METADATA_VALUE_MAX: usize = 256;
/// SageMaker's limit on the number of `CustomerMetadataProperties`.
const METADATA_MAX: usize = 50;

/// The metadata keys a decision writes.
pub mod keys {
    pub const DECISION: &str = "dxops:decision";
    pub const DECIDED_BY: &str = "dxops:decided-by";
    pub const DECIDED_AT: &str = "dxops:decided-at";
    pub const REASON: &str = "dxops:reason";
    pub const REASON_SHA256: &str = "dxops:reason-sha256";
    pub const EVALUATION_URI: &str = "dxops:evaluation-uri";
    pub const EVALUATION_SHA256: &str = "dxops:evaluation-sha256";
    pub const MACRO_F1: &str = "dxops:macro-f1";
    pub const ROC_AUC: &str = "dxops:roc-auc";
    pub const WORST_CLASS_RECALL: &str = "dxops:worst-class-recall";
    pub const MACRO_F1_DROP: &str = "dxops:macro-f1-drop";
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Approved,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "Approved",
            Verdict::Rejected => "Rejected",
        }
    }

    fn status(self) -> ModelApprovalStatus {
        match self {
            Verdict::Approved => ModelApprovalStatus::Approved,
            Verdict::Rejected => ModelApprovalStatus::Rejected,
        }
    }
}

/// One version of a model package group, as ListModelPackages gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageVersion {
    pub version: u32,
    pub arn: String,
    /// `PendingManualApproval`, `Approved` or `Rejected`.
    pub status: String,
    /// Seconds since the Unix epoch.
    pub created: Option<i64>,
    pub description: Option<String>,
}

/// One version with what DescribeModelPackage adds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Package {
    pub group: String,
    pub version: u32,
    pub arn: String,
    pub status: String,
    pub approval_description: Option<String>,
    /// `ModelMetrics.ModelQuality.Statistics.S3Uri`: the evaluation the pipeline registered.
    pub metrics_uri: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The evaluation a decision was made on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub uri: Option<String>,
    /// sha256 of the `evaluation.json` read at decision time.
    pub sha256: Option<String>,
    pub metrics: Option<dxops_contract::evaluation::EvaluationMetrics>,
    /// Why the evaluation could not be read (the URI is still recorded).
    pub unread: Option<String>,
}

/// What a decision left on the package, read back after the update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decided {
    pub verdict: Verdict,
    pub by: String,
    pub at: String,
    pub package: Package,
    pub evaluation: Snapshot,
}

/// A metadata value SageMaker accepts: its characters
/// (`[\p{L}\p{Z}\p{N}_.:/=+\-@]`) and at most 256 of them; others become `_`.
pub fn metadata_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(METADATA_VALUE_MAX)
        .collect()
}

/// The reason as SageMaker takes it: not blank, at most 1,024 characters.
pub fn check_reason(reason: &str) -> Result<(), DeployError> {
    let chars = reason.chars().count();
    if reason.trim().is_empty() {
        return Err(DeployError::BadReason {
            message: "the reason is empty: say why, it is recorded with your name".into(),
        });
    }
    if chars > REASON_MAX {
        return Err(DeployError::BadReason {
            message: format!(
                "the reason has {chars} characters; SageMaker records at most {REASON_MAX}"
            ),
        });
    }
    Ok(())
}

/// Now, as SageMaker's and ISO 8601's `2026-12-02T14:05:00Z`.
pub fn now_utc() -> String {
    crate::iso8601(DateTime::from(std::time::SystemTime::now()).secs())
}

/// SageMaker in the environment's region, with S3 to read evaluations.
#[derive(Clone)]
pub struct Registry {
    client: Client,
    s3: Option<aws_sdk_s3::Client>,
    endpoint: Option<String>,
}

impl Registry {
    pub fn new(client: Client, s3: Option<aws_sdk_s3::Client>, endpoint: Option<String>) -> Self {
        Registry {
            client,
            s3,
            endpoint,
        }
    }

    fn err<E, R>(
        &self,
        operation: &'static str,
        what: &str,
        e: aws_sdk_sagemaker::error::SdkError<E, R>,
    ) -> DeployError
    where
        E: aws_sdk_sagemaker::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        classify(operation, what, self.endpoint.as_deref(), e)
    }

    /// Every version of the group, oldest first; empty when the group does
    /// not exist (not deployed yet) or holds none.
    pub async fn versions(&self, group: &str) -> Result<Vec<PackageVersion>, DeployError> {
        let mut versions = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_model_packages()
                .model_package_group_name(group)
                .sort_by(ModelPackageSortBy::CreationTime)
                .sort_order(SortOrder::Ascending)
                .max_results(100)
                .set_next_token(token.clone())
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    return match self.err("ListModelPackages", group, e) {
                        e if e.is_missing_resource() => Ok(Vec::new()),
                        e => Err(e),
                    };
                }
            };
            for p in out.model_package_summary_list() {
                let Some(version) = p
                    .model_package_version()
                    .and_then(|v| u32::try_from(v).ok())
                else {
                    continue;
                };
                versions.push(PackageVersion {
                    version,
                    arn: p.model_package_arn().unwrap_or_default().to_string(),
                    status: p
                        .model_approval_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    created: p.creation_time().map(|t| t.secs()),
                    description: p.model_package_description().map(str::to_string),
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    /// The group's versions, oldest first; `None` when the group does not
    /// exist (the ml stack is not deployed yet).
    pub async fn group(&self, group: &str) -> Result<Option<Vec<PackageVersion>>, DeployError> {
        let described = self
            .client
            .describe_model_package_group()
            .model_package_group_name(group)
            .send()
            .await;
        if let Err(e) = described {
            return match self.err("DescribeModelPackageGroup", group, e) {
                e if e.is_missing_resource() => Ok(None),
                e => Err(e),
            };
        }
        Ok(Some(self.versions(group).await?))
    }

    /// One version of the group, described.
    pub async fn package(&self, group: &str, version: u32) -> Result<Package, DeployError> {
        let versions = self.versions(group).await?;
        let Some(found) = versions.iter().find(|v| v.version == version) else {
            return Err(DeployError::UnknownVersion {
                group: group.into(),
                version,
                known: versions.iter().map(|v| v.version).collect(),
            });
        };
        self.describe(group, version, &found.arn).await
    }

    async fn describe(&self, group: &str, version: u32, arn: &str) -> Result<Package, DeployError> {
        let out = self
            .client
            .describe_model_package()
            .model_package_name(arn)
            .send()
            .await
            .map_err(|e| self.err("DescribeModelPackage", arn, e))?;
        let metrics_uri = out
            .model_metrics()
            .and_then(|m| m.model_quality())
            .and_then(|q| q.statistics())
            .and_then(|s| s.s3_uri())
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        Ok(Package {
            group: group.into(),
            version,
            arn: out.model_package_arn().unwrap_or(arn).to_string(),
            status: out
                .model_approval_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            approval_description: out.approval_description().map(str::to_string),
            metrics_uri,
            metadata: out
                .customer_metadata_properties()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    /// Reads the evaluation at `uri` (`s3://bucket/key`), for the snapshot.
    async fn snapshot(&self, uri: Option<&str>) -> Snapshot {
        let mut snap = Snapshot {
            uri: uri.map(str::to_string),
            sha256: None,
            metrics: None,
            unread: None,
        };
        let Some(uri) = uri else {
            snap.unread = Some("the package names no evaluation (ModelMetrics)".into());
            return snap;
        };
        let Some((bucket, key)) = uri
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
        else {
            snap.unread = Some(format!("{uri} is not an s3:// URI"));
            return snap;
        };
        let Some(s3) = &self.s3 else {
            snap.unread = Some("no S3 client".into());
            return snap;
        };
        let bytes = match s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => match out.body.collect().await {
                Ok(data) => data.into_bytes().to_vec(),
                Err(e) => {
                    snap.unread = Some(format!("reading {uri}: {e}"));
                    return snap;
                }
            },
            Err(e) => {
                snap.unread =
                    Some(classify("GetObject", uri, self.endpoint.as_deref(), e).to_string());
                return snap;
            }
        };
        snap.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        /// The part of `evaluation.json` the snapshot keeps.
        #[derive(serde::Deserialize)]
        struct Headline {
            metrics: dxops_contract::evaluation::EvaluationMetrics,
        }
        match serde_json::from_slice::<Headline>(&bytes) {
            Ok(e) => snap.metrics = Some(e.metrics),
            Err(e) => snap.unread = Some(format!("{uri} is not an evaluation.json: {e}")),
        }
        snap
    }

    /// Records a decision on a pending version: status, reason, who, when
    /// and the evaluation; returns the package as SageMaker reads it back.
    /// A version already approved or rejected is refused.
    pub async fn decide(
        &self,
        group: &str,
        version: u32,
        verdict: Verdict,
        reason: &str,
        by: &Identity,
        at: &str,
    ) -> Result<Decided, DeployError> {
        check_reason(reason)?;
        let package = self.package(group, version).await?;
        if package.status != ModelApprovalStatus::PendingManualApproval.as_str() {
            let mut decided = String::new();
            if let Some(by) = package.metadata.get(keys::DECIDED_BY) {
                decided.push_str(&format!(" by {by}"));
            }
            if let Some(at) = package.metadata.get(keys::DECIDED_AT) {
                decided.push_str(&format!(" at {at}"));
            }
            if let Some(reason) = &package.approval_description {
                decided.push_str(&format!(" ({reason})"));
            }
            return Err(DeployError::AlreadyDecided {
                group: group.into(),
                version,
                status: package.status.clone(),
                decided,
            });
        }
        let evaluation = self.snapshot(package.metrics_uri.as_deref()).await;
        let mut ours: Vec<(&str, String)> = vec![
            (keys::DECISION, verdict.as_str().into()),
            (keys::DECIDED_BY, by.arn.clone()),
            (keys::DECIDED_AT, at.into()),
            (keys::REASON, reason.into()),
            (
                keys::REASON_SHA256,
                hex::encode(Sha256::digest(reason.as_bytes())),
            ),
        ];
        if let Some(uri) = &evaluation.uri {
            ours.push((keys::EVALUATION_URI, uri.clone()));
        }
        if let Some(sha) = &evaluation.sha256 {
            ours.push((keys::EVALUATION_SHA256, sha.clone()));
        }
        if let Some(m) = &evaluation.metrics {
            ours.push((keys::MACRO_F1, format!("{:.4}", m.macro_f1)));
            ours.push((keys::ROC_AUC, format!("{:.4}", m.roc_auc)));
            ours.push((
                keys::WORST_CLASS_RECALL,
                format!("{:.4}", m.worst_class_recall),
            ));
            ours.push((keys::MACRO_F1_DROP, format!("{:.4}", m.macro_f1_drop)));
        }
        // UpdateModelPackage may replace the whole map: send what was there too.
        let mut metadata: HashMap<String, String> = package
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in ours {
            metadata.insert(k.to_string(), metadata_value(&v));
        }
        if metadata.len() > METADATA_MAX {
            return Err(DeployError::Api {
                operation: "UpdateModelPackage",
                stack: package.arn.clone(),
                code: None,
                message: format!(
                    "the package would hold {} metadata properties; SageMaker keeps at most {METADATA_MAX}",
                    metadata.len()
                ),
            });
        }
        self.client
            .update_model_package()
            .model_package_arn(&package.arn)
            .model_approval_status(verdict.status())
            .approval_description(reason)
            .set_customer_metadata_properties(Some(metadata))
            .send()
            .await
            .map_err(|e| self.err("UpdateModelPackage", &package.arn, e))?;
        let package = self.describe(group, version, &package.arn).await?;
        Ok(Decided {
            verdict,
            by: by.arn.clone(),
            at: at.into(),
            package,
            evaluation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_keep_what_sagemaker_accepts() {
        assert_eq!(
            metadata_value("arn:aws:sts::123456789012:assumed-role/Clinician/jane@example.org"),
            "arn:aws:sts::123456789012:assumed-role/Clinician/jane@example.org"
        );
        assert_eq!(
            metadata_value("recall ok, reviewed (board #4)"),
            "recall ok_ reviewed _board _4_"
        );
        assert_eq!(metadata_value("Überprüft 0.93"), "Überprüft 0.93");
        assert_eq!(metadata_value(&"a".repeat(300)).chars().count(), 256);
    }

    #[test]
    fn reasons_are_checked() {
        assert!(check_reason("  ").is_err());
        assert!(check_reason(&"r".repeat(REASON_MAX)).is_ok());
        let err = check_reason(&"r".repeat(REASON_MAX + 1)).unwrap_err();
        assert!(err.to_string().contains("1025 characters"), "{err}");
    }

    #[test]
    fn now_is_iso_8601_utc() {
        let now = now_utc();
        assert_eq!(now.len(), "2026-12-02T14:05:00Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
