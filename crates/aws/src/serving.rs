//! The environment's SageMaker endpoint as it serves now: its status, its
//! production variants' weights and instances, and the model data each
//! variant serves (after a promotion, the approved package's).

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
    /// The SageMaker model the variant serves and its model data
    /// (DescribeEndpointConfig, DescribeModel); `None` where not readable.
    pub model: Option<String>,
    pub model_data: Option<String>,
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
    let models = match out.endpoint_config_name() {
        Some(config) => served_models(client, config).await,
        None => Vec::new(),
    };
    let served = |variant: &str| {
        models
            .iter()
            .find(|(v, _, _)| v == variant)
            .map(|(_, m, d)| (Some(m.clone()), d.clone()))
            .unwrap_or_default()
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
            .map(|v| {
                let name = v.variant_name().unwrap_or_default().to_string();
                let (model, model_data) = served(&name);
                Variant {
                    name,
                    current_weight: v.current_weight(),
                    desired_weight: v.desired_weight(),
                    current_instances: v.current_instance_count(),
                    desired_instances: v.desired_instance_count(),
                    model,
                    model_data,
                }
            })
            .collect(),
    }))
}

/// Each production variant of `config` with its model and that model's
/// data. What cannot be read (a config or model being replaced, a missing
/// permission) is left out: the status says less, it does not fail.
async fn served_models(client: &Client, config: &str) -> Vec<(String, String, Option<String>)> {
    let Ok(out) = client
        .describe_endpoint_config()
        .endpoint_config_name(config)
        .send()
        .await
    else {
        return Vec::new();
    };
    let mut served = Vec::new();
    for v in out.production_variants() {
        let (Some(variant), Some(model)) = (v.variant_name(), v.model_name()) else {
            continue;
        };
        let data = match client.describe_model().model_name(model).send().await {
            Ok(m) => m
                .primary_container()
                .or_else(|| m.containers().first())
                .and_then(|c| c.model_data_url())
                .map(str::to_string),
            Err(_) => None,
        };
        served.push((variant.to_string(), model.to_string(), data));
    }
    served
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
            model: None,
            model_data: None,
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
