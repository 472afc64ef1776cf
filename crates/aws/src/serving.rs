//! The environment's SageMaker endpoint as it serves now: its status and
//! its production variants' weights and instances.

use aws_sdk_sagemaker::Client;
use serde::Serialize;

use crate::error::{DeployError, classify};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    pub current_weight: Option<f32>,
    pub desired_weight: Option<f32>,
    pub current_instances: Option<i32>,
    pub desired_instances: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    pub name: String,
    /// `InService`, `Updating`, `Failed`, ...
    pub status: String,
    pub failure_reason: Option<String>,
    pub config: Option<String>,
    pub variants: Vec<Variant>,
}

impl Endpoint {
    /// Each variant's share of the traffic (its current weight over the
    /// sum), in variant order; `None` when the weights are not known.
    pub fn shares(&self) -> Option<Vec<f32>> {
        let weights: Option<Vec<f32>> = self.variants.iter().map(|v| v.current_weight).collect();
        let weights = weights?;
        let total: f32 = weights.iter().sum();
        (total > 0.0).then(|| weights.iter().map(|w| w / total).collect())
    }
}

/// DescribeEndpoint; `None` when the endpoint does not exist (not deployed yet).
pub async fn describe(
    client: &Client,
    endpoint: Option<&str>,
    name: &str,
) -> Result<Option<Endpoint>, DeployError> {
    let out = match client.describe_endpoint().endpoint_name(name).send().await {
        Ok(out) => out,
        Err(e) => {
            return match classify("DescribeEndpoint", name, endpoint, e) {
                e if e.is_missing_resource() => Ok(None),
                e => Err(e),
            };
        }
    };
    Ok(Some(Endpoint {
        name: out.endpoint_name().unwrap_or(name).to_string(),
        status: out
            .endpoint_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        failure_reason: out
            .failure_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        config: out.endpoint_config_name().map(str::to_string),
        variants: out
            .production_variants()
            .iter()
            .map(|v| Variant {
                name: v.variant_name().unwrap_or_default().to_string(),
                current_weight: v.current_weight(),
                desired_weight: v.desired_weight(),
                current_instances: v.current_instance_count(),
                desired_instances: v.desired_instance_count(),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, weight: Option<f32>) -> Variant {
        Variant {
            name: name.into(),
            current_weight: weight,
            desired_weight: weight,
            current_instances: Some(1),
            desired_instances: Some(1),
        }
    }

    #[test]
    fn shares_are_weights_over_their_sum() {
        let mut e = Endpoint {
            name: "e".into(),
            status: "InService".into(),
            failure_reason: None,
            config: None,
            variants: vec![variant("blue", Some(9.0)), variant("green", Some(1.0))],
        };
        assert_eq!(e.shares(), Some(vec![0.9, 0.1]));
        e.variants[1].current_weight = None;
        assert_eq!(e.shares(), None);
    }
}
