//! AWS resource names derived from the spec name and environment.
//!
//! One place decides every name, so validation can check AWS's limits on
//! exactly the names the renderer will use.

use serde::Serialize;

/// Longest account id (12 digits) plus the hyphen before it: bucket names end in it.
const ACCOUNT_SUFFIX: usize = 13;

/// Names of one environment's resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    /// `<name>-<env>`: pipeline, endpoint and model package group.
    pub prefix: String,
    pub stack_data: String,
    pub stack_ml: String,
    pub stack_serving: String,
    /// Bucket names without the `-<account id>` suffix the templates add.
    pub bucket_raw: String,
    pub bucket_artifacts: String,
    pub bucket_access_logs: String,
    /// Replicas in the recovery region, and that region's access-log sink.
    pub bucket_replica: String,
    pub bucket_replica_logs: String,
    pub pipeline: String,
    pub endpoint: String,
    pub model_package_group: String,
    pub state_machine: String,
    /// The Glue Data Catalog database and table over the ingested records,
    /// the Data Quality ruleset judging them, and the state machine that
    /// runs it (started by the retraining state machine before training).
    pub glue_database: String,
    pub records_table: String,
    pub quality_ruleset: String,
    pub quality_machine: String,
    /// The scheduled ground-truth join: its state machine and the prefix of
    /// its processing jobs' names (an 8-character run id follows).
    pub live_quality_machine: String,
    pub live_quality_job: String,
    /// Artifacts-bucket prefixes of the ground-truth join: the endpoint's
    /// data capture, the confirmed labels, and the join's reports.
    pub capture_prefix: String,
    pub ground_truth_prefix: String,
    pub live_quality_prefix: String,
    /// The state machine that puts an approved model package behind the
    /// endpoint (started by the approval's EventBridge event).
    pub promote_machine: String,
    pub ingest_function: String,
    /// The serving function (`serving.target: lambda`), the alias the API
    /// calls, and the CodeDeploy application that shifts the alias.
    pub serving_function: String,
    pub serving_alias: String,
    pub codedeploy_application: String,
    /// The gateway function between the API and the endpoint, and the
    /// deploy-bucket prefix of its packages.
    pub gateway_function: String,
    pub gateway_prefix: String,
    /// What `dxops bootstrap` creates before the first deploy: its stack,
    /// the role CloudFormation deploys with, the bucket for templates over
    /// the inline limit (without the `-<account id>` suffix) and the image
    /// repository.
    pub stack_bootstrap: String,
    pub deploy_role: String,
    pub bucket_deploy: String,
    pub repository: String,
    /// One IAM role per job.
    pub roles: Vec<(String, String)>,
}

/// The jobs that get a role of their own, and the service that assumes it.
pub const ROLES: [(&str, &str); 22] = [
    ("processing", "sagemaker.amazonaws.com"),
    ("training", "sagemaker.amazonaws.com"),
    ("evaluation", "sagemaker.amazonaws.com"),
    ("pipeline", "sagemaker.amazonaws.com"),
    ("model", "sagemaker.amazonaws.com"),
    ("ingest", "lambda.amazonaws.com"),
    ("iot", "iot.amazonaws.com"),
    ("retrain", "states.amazonaws.com"),
    ("scheduler", "events.amazonaws.com"),
    ("data-quality", "glue.amazonaws.com"),
    ("quality-check", "states.amazonaws.com"),
    ("live-quality", "sagemaker.amazonaws.com"),
    ("live-quality-run", "states.amazonaws.com"),
    ("live-quality-schedule", "events.amazonaws.com"),
    ("promote", "states.amazonaws.com"),
    ("promote-trigger", "events.amazonaws.com"),
    ("flow-logs", "vpc-flow-logs.amazonaws.com"),
    ("api-logs", "apigateway.amazonaws.com"),
    ("invoke", "apigateway.amazonaws.com"),
    ("function", "lambda.amazonaws.com"),
    ("codedeploy", "codedeploy.amazonaws.com"),
    ("gateway", "lambda.amazonaws.com"),
];

impl Names {
    pub fn new(name: &str, env: &str) -> Names {
        let prefix = format!("{name}-{env}");
        Names {
            stack_data: format!("{prefix}-data"),
            stack_ml: format!("{prefix}-ml"),
            stack_serving: format!("{prefix}-serving"),
            bucket_raw: format!("{prefix}-raw"),
            bucket_artifacts: format!("{prefix}-artifacts"),
            bucket_access_logs: format!("{prefix}-access-logs"),
            bucket_replica: format!("{prefix}-replica"),
            bucket_replica_logs: format!("{prefix}-replica-logs"),
            pipeline: prefix.clone(),
            endpoint: prefix.clone(),
            model_package_group: prefix.clone(),
            state_machine: format!("{prefix}-retrain"),
            // Glue database names are lower case; Athena refuses hyphens.
            glue_database: prefix.to_ascii_lowercase().replace('-', "_"),
            records_table: "records".into(),
            quality_ruleset: format!("{prefix}-quality"),
            quality_machine: format!("{prefix}-quality-check"),
            live_quality_machine: format!("{prefix}-live-quality"),
            live_quality_job: format!("{prefix}-lq"),
            // SageMaker writes capture under `<destination>/<endpoint name>/`,
            // and the endpoint is named after the prefix.
            capture_prefix: format!("capture/{prefix}/"),
            ground_truth_prefix: "ground-truth/".into(),
            live_quality_prefix: "live-quality/".into(),
            promote_machine: format!("{prefix}-promote"),
            ingest_function: format!("{prefix}-ingest"),
            serving_function: format!("{prefix}-predict"),
            serving_alias: "live".into(),
            codedeploy_application: format!("{prefix}-predict"),
            gateway_function: format!("{prefix}-gateway"),
            gateway_prefix: dxops_contract::layout::paths::GATEWAY_PACKAGE_PREFIX.into(),
            stack_bootstrap: format!("{prefix}-bootstrap"),
            deploy_role: format!("{prefix}-deploy"),
            bucket_deploy: format!("{prefix}-deploy"),
            repository: format!("{prefix}/dxops-model"),
            roles: ROLES
                .iter()
                .map(|(job, _)| (job.to_string(), format!("{prefix}-{job}")))
                .collect(),
            prefix,
        }
    }

    /// The artifacts bucket (without the `-<account id>` suffix) that holds
    /// the model data of a model package group dxops made: a group is named
    /// after its environment's prefix, as is that environment's bucket.
    /// The training role of a spec whose `training.transfer.from` names the
    /// group may read that bucket's `runs/` (where registered models live).
    pub fn artifacts_bucket_of_group(group: &str) -> String {
        format!("{group}-artifacts")
    }

    /// Every name that breaks its AWS limit, as a sentence.
    pub fn violations(&self) -> Vec<String> {
        let mut checks: Vec<(&str, String, usize)> = vec![
            ("CloudFormation stack", self.stack_serving.clone(), 128),
            (
                "S3 bucket",
                format!("{}{}", self.bucket_access_logs, "-".repeat(ACCOUNT_SUFFIX)),
                63,
            ),
            ("SageMaker pipeline", self.pipeline.clone(), 256),
            ("SageMaker endpoint", self.endpoint.clone(), 63),
            ("model package group", self.model_package_group.clone(), 63),
            (
                "Step Functions state machine",
                self.state_machine.clone(),
                80,
            ),
            (
                "Step Functions state machine",
                self.quality_machine.clone(),
                80,
            ),
            ("Glue database", self.glue_database.clone(), 255),
            (
                "Step Functions state machine",
                self.live_quality_machine.clone(),
                80,
            ),
            (
                "SageMaker processing job",
                format!("{}-{}", self.live_quality_job, "x".repeat(8)),
                63,
            ),
            (
                "Step Functions state machine",
                self.promote_machine.clone(),
                80,
            ),
            ("Lambda function", self.ingest_function.clone(), 64),
            ("Lambda function", self.serving_function.clone(), 64),
            ("Lambda function", self.gateway_function.clone(), 64),
            (
                "CodeDeploy application",
                self.codedeploy_application.clone(),
                100,
            ),
        ];
        checks.push(("IAM role", self.deploy_role.clone(), 64));
        checks.push(("ECR repository", self.repository.clone(), 256));
        checks.extend(self.roles.iter().map(|(_, r)| ("IAM role", r.clone(), 64)));
        checks
            .into_iter()
            .filter(|(_, name, max)| name.len() > *max)
            .map(|(what, name, max)| {
                format!(
                    "{what} name `{name}` has {} characters; AWS allows {max}",
                    name.len()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    #[test]
    fn long_names_break_the_bucket_limit_first() {
        assert!(
            Names::new("disease-prediction", "prod")
                .violations()
                .is_empty()
        );
        let v = Names::new(&"x".repeat(40), "production");
        assert!(
            v.violations()[0].contains("S3 bucket"),
            "{:?}",
            v.violations()
        );
    }

    #[test]
    fn a_group_s_bucket_is_its_environment_s_artifacts_bucket() {
        let prod = Names::new("disease-prediction", "prod");
        assert_eq!(
            Names::artifacts_bucket_of_group(&prod.model_package_group),
            prod.bucket_artifacts
        );
    }
}
