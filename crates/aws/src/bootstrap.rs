//! `dxops bootstrap`: what the first deploy needs, as one CloudFormation
//! stack of its own (so running it again is a change set with nothing in
//! it): the role CloudFormation deploys the environment with, the bucket
//! for templates over CloudFormation's inline limit, and the image
//! repository.
//!
//! The role's permissions are derived from the rendered templates: every
//! resource type the manifest's stacks declare names its service, and the
//! role may act on exactly those services, in exactly the manifest's
//! regions; IAM only on the environment's own roles and policies. A
//! per-action list would need each type's handler permissions from the
//! CloudFormation registry (DescribeType), which emulators do not serve.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use dxops_spec::spec::names::Names;

use crate::{DeployError, Identity, RenderedEnvironment};

/// IAM's name for the services whose CloudFormation namespace differs from it.
fn iam_service(namespace: &str) -> String {
    match namespace {
        "StepFunctions" => "states".into(),
        "ElasticLoadBalancingV2" | "ElasticLoadBalancing" => "elasticloadbalancing".into(),
        "ApplicationAutoScaling" => "application-autoscaling".into(),
        "CertificateManager" => "acm".into(),
        "Cognito" => "cognito-idp".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// Every resource type of the environment's stacks, sorted.
pub fn resource_types(env: &RenderedEnvironment) -> Result<BTreeSet<String>, DeployError> {
    let mut types = BTreeSet::new();
    for stack in &env.manifest.stacks {
        let template = env.template_value(stack)?;
        if let Some(resources) = template.get("Resources").and_then(Value::as_object) {
            for r in resources.values() {
                if let Some(t) = r.get("Type").and_then(Value::as_str) {
                    types.insert(t.to_string());
                }
            }
        }
    }
    Ok(types)
}

/// The IAM services those types belong to (IAM itself is scoped apart).
pub fn services(types: &BTreeSet<String>) -> BTreeSet<String> {
    types
        .iter()
        .filter_map(|t| {
            let mut parts = t.split("::");
            match (parts.next(), parts.next()) {
                (Some("AWS"), Some(ns)) if ns != "CloudFormation" => Some(iam_service(ns)),
                _ => None,
            }
        })
        .filter(|s| s != "iam")
        .collect()
}

/// The bootstrap stack's template (JSON, deterministic for the same
/// rendering).
pub fn template(env: &RenderedEnvironment, names: &Names) -> Result<String, DeployError> {
    let types = resource_types(env)?;
    let regions: BTreeSet<&str> = env
        .manifest
        .stacks
        .iter()
        .map(|s| s.region.as_str())
        .collect();
    let actions: Vec<String> = services(&types)
        .into_iter()
        .map(|s| format!("{s}:*"))
        .collect();
    let iam_arn = |kind: &str| json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{kind}/{}-*", names.prefix) });
    let mut statements = vec![json!({
        "Sid": "RenderedServices",
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*",
        "Condition": { "StringEquals": { "aws:RequestedRegion": regions } }
    })];
    if types.iter().any(|t| t.starts_with("AWS::IAM::")) {
        statements.push(json!({
            "Sid": "EnvironmentRolesAndPolicies",
            "Effect": "Allow",
            "Action": "iam:*",
            "Resource": [iam_arn("role"), iam_arn("policy")]
        }));
        // endpoints in a VPC, API Gateway logging and the like create their service's linked role once
        statements.push(json!({
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/*" }
        }));
    }
    statements.push(json!({
        // templates over the inline limit, and the gateway function's code
        "Sid": "ReadTemplates",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": { "Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::{}-${{AWS::AccountId}}/*", names.bucket_deploy) }
    }));
    let tls_only = json!({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [
            { "Fn::GetAtt": ["DeployBucket", "Arn"] },
            { "Fn::Sub": "${DeployBucket.Arn}/*" }
        ],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
    });
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "dxops bootstrap of {}: the deploy role for {} resource types, the template bucket, the image repository",
            names.prefix,
            types.len()
        ),
        "Resources": {
            "DeployRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": names.deploy_role,
                    "Description": format!("CloudFormation deploys {} with this role", names.prefix),
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": { "Service": "cloudformation.amazonaws.com" },
                            "Action": "sts:AssumeRole",
                            "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } }
                        }]
                    },
                    "Policies": [{
                        "PolicyName": "rendered-resource-types",
                        "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
                    }]
                }
            },
            "DeployBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": { "Fn::Sub": format!("{}-${{AWS::AccountId}}", names.bucket_deploy) },
                    "BucketEncryption": { "ServerSideEncryptionConfiguration": [{
                        "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" },
                        "BucketKeyEnabled": true
                    }] },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true, "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                    },
                    "VersioningConfiguration": { "Status": "Enabled" },
                    "LifecycleConfiguration": { "Rules": [{
                        "Id": "old-templates",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": { "NoncurrentDays": 30 }
                    }] }
                }
            },
            "DeployBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": { "Ref": "DeployBucket" },
                    "PolicyDocument": { "Version": "2012-10-17", "Statement": [tls_only] }
                }
            },
            "Repository": {
                "Type": "AWS::ECR::Repository",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "RepositoryName": names.repository,
                    "ImageTagMutability": "IMMUTABLE",
                    "ImageScanningConfiguration": { "ScanOnPush": true },
                    "EncryptionConfiguration": { "EncryptionType": "KMS" }
                }
            }
        },
        "Outputs": {
            "DeployRoleArn": { "Value": { "Fn::GetAtt": ["DeployRole", "Arn"] } },
            "DeployBucketName": { "Value": { "Ref": "DeployBucket" } },
            "RepositoryUri": { "Value": { "Fn::GetAtt": ["Repository", "RepositoryUri"] } }
        }
    });
    Ok(serde_json::to_string_pretty(&template).unwrap_or_default())
}

/// What a bootstrapped environment gives the deployer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bootstrapped {
    pub role_arn: String,
    /// The deploy bucket (templates over the inline limit) and where it is.
    pub bucket: String,
    pub region: String,
    /// The account that owns the bucket and the role.
    pub account: String,
    pub repository_uri: String,
}

impl Bootstrapped {
    /// The bootstrap's names in the caller's account and partition (as
    /// the template's outputs give them).
    pub fn of(names: &Names, region: &str, caller: &Identity) -> Bootstrapped {
        let partition = caller.arn.split(':').nth(1).unwrap_or("aws");
        let suffix = if partition == "aws-cn" { ".cn" } else { "" };
        Bootstrapped {
            role_arn: format!(
                "arn:{partition}:iam::{}:role/{}",
                caller.account, names.deploy_role
            ),
            bucket: format!("{}-{}", names.bucket_deploy, caller.account),
            region: region.into(),
            account: caller.account.clone(),
            repository_uri: format!(
                "{}.dkr.ecr.{region}.amazonaws.com{suffix}/{}",
                caller.account, names.repository
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_come_from_the_types() {
        let types: BTreeSet<String> = [
            "AWS::S3::Bucket",
            "AWS::StepFunctions::StateMachine",
            "AWS::IAM::Role",
            "AWS::CloudFormation::WaitConditionHandle",
            "Custom::Thing",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got: Vec<String> = services(&types).into_iter().collect();
        assert_eq!(got, ["s3", "states"]);
    }
}
