//! The quality gates: the spec's `gates`, the pipeline's condition step
//! rendered from them, and the one evaluation of them that local runs use.
//!
//! [`Gates::conditions`] is the single list both sides read: the renderer
//! turns each [`Condition`] into a `ConditionGreaterThanOrEqualTo` /
//! `ConditionLessThanOrEqualTo` over `Std:JsonGet` of `evaluation.json`,
//! with the threshold as a pipeline parameter; [`check`] applies the same
//! conditions to an evaluation the way SageMaker does (read the JSON path,
//! compare with the parameter), and [`conditions_of_pipeline`] reads them
//! back from a rendered `pipeline.json`, so a local run follows whatever the
//! rendered (and reviewed) file says.

use serde::{Deserialize, Serialize};

use crate::evaluation::{Evaluation, json_get, paths};

/// The pipeline's condition step: a model registers only if every gate holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    #[serde(default)]
    pub macro_f1: Option<MinGate>,
    /// Recall of the worst-served class: protects rare diseases.
    #[serde(default)]
    pub min_class_recall: Option<MinGate>,
    #[serde(default)]
    pub roc_auc: Option<MinGate>,
    #[serde(default)]
    pub accuracy: Option<MinGate>,
    #[serde(default)]
    pub balanced_accuracy: Option<MinGate>,
    /// Largest macro-F1 drop accepted against the production model on the same test set.
    #[serde(default)]
    pub vs_production: Option<DropGate>,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            macro_f1: Some(MinGate { min: 0.5 }),
            min_class_recall: None,
            roc_auc: None,
            accuracy: None,
            balanced_accuracy: None,
            vs_production: Some(DropGate { max_drop: 0.02 }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinGate {
    /// Lowest accepted value, in [0, 1].
    pub min: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropGate {
    /// Largest accepted drop, in [0, 1].
    pub max_drop: f64,
}

/// How a condition compares the evaluated value with its threshold; the
/// names are SageMaker's condition types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanOrEqualTo,
    LessThanOrEqualTo,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualTo => "GreaterThanOrEqualTo",
            Comparison::LessThanOrEqualTo => "LessThanOrEqualTo",
        }
    }

    fn parse(s: &str) -> Option<Comparison> {
        match s {
            "GreaterThanOrEqualTo" => Some(Comparison::GreaterThanOrEqualTo),
            "LessThanOrEqualTo" => Some(Comparison::LessThanOrEqualTo),
            _ => None,
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualTo => value >= threshold,
            Comparison::LessThanOrEqualTo => value <= threshold,
        }
    }
}

/// One condition of the condition step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The pipeline parameter that carries the threshold (`MinMacroF1`, ...).
    pub parameter: String,
    /// JSON path of the value in `evaluation.json`.
    pub path: String,
    pub comparison: Comparison,
    pub threshold: f64,
}

/// One condition judged against one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    #[serde(flatten)]
    pub condition: Condition,
    /// The value read from the evaluation; `None` when the path is absent,
    /// which fails the gate, as it fails the pipeline.
    pub value: Option<f64>,
    pub passed: bool,
}

/// Every condition judged; the model registers when `passed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub passed: bool,
    pub results: Vec<GateResult>,
}

impl Gates {
    /// The condition step's conditions, in the order the pipeline lists them.
    pub fn conditions(&self) -> Vec<Condition> {
        let mins = [
            ("MinMacroF1", paths::MACRO_F1, self.macro_f1),
            (
                "MinClassRecall",
                paths::WORST_CLASS_RECALL,
                self.min_class_recall,
            ),
            ("MinRocAuc", paths::ROC_AUC, self.roc_auc),
            ("MinAccuracy", paths::ACCURACY, self.accuracy),
            (
                "MinBalancedAccuracy",
                paths::BALANCED_ACCURACY,
                self.balanced_accuracy,
            ),
        ];
        let mut out: Vec<Condition> = mins
            .into_iter()
            .filter_map(|(parameter, path, gate)| {
                gate.map(|g| Condition {
                    parameter: parameter.into(),
                    path: path.into(),
                    comparison: Comparison::GreaterThanOrEqualTo,
                    threshold: g.min,
                })
            })
            .collect();
        if let Some(g) = self.vs_production {
            out.push(Condition {
                parameter: "MaxDropVsProduction".into(),
                path: paths::MACRO_F1_DROP.into(),
                comparison: Comparison::LessThanOrEqualTo,
                threshold: g.max_drop,
            });
        }
        out
    }

    /// Judges an evaluation against these gates.
    pub fn check(&self, evaluation: &Evaluation) -> GateReport {
        check(&self.conditions(), evaluation)
    }
}

/// Judges an evaluation as the condition step does: each value is read from
/// the evaluation's JSON at the condition's path.
pub fn check(conditions: &[Condition], evaluation: &Evaluation) -> GateReport {
    let doc = serde_json::to_value(evaluation).expect("evaluations serialize");
    check_json(conditions, &doc)
}

/// [`check`] over an `evaluation.json` document as read from disk.
pub fn check_json(conditions: &[Condition], evaluation: &serde_json::Value) -> GateReport {
    let results: Vec<GateResult> = conditions
        .iter()
        .map(|c| {
            let value = json_get(evaluation, &c.path);
            GateResult {
                condition: c.clone(),
                value,
                passed: value.is_some_and(|v| c.comparison.holds(v, c.threshold)),
            }
        })
        .collect();
    GateReport {
        passed: results.iter().all(|r| r.passed),
        results,
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PipelineGatesError {
    #[error("the pipeline definition has no Condition step")]
    NoConditionStep,
    #[error("condition {index} of the condition step: {message}")]
    Condition { index: usize, message: String },
}

/// The conditions of a rendered SageMaker pipeline definition: its
/// `Condition` step's conditions, each threshold the default value of the
/// parameter it names.
pub fn conditions_of_pipeline(
    definition: &serde_json::Value,
) -> Result<Vec<Condition>, PipelineGatesError> {
    let step = definition["Steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["Type"] == "Condition"))
        .ok_or(PipelineGatesError::NoConditionStep)?;
    let parameters = definition["Parameters"].as_array();
    let default_of = |name: &str| -> Option<f64> {
        let p = parameters?.iter().find(|p| p["Name"] == name)?;
        let v = &p["DefaultValue"];
        v.as_f64().or_else(|| v.as_str()?.parse().ok())
    };
    let conditions = step["Arguments"]["Conditions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    conditions
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let err = |message: &str| PipelineGatesError::Condition {
                index,
                message: message.into(),
            };
            let comparison = c["Type"]
                .as_str()
                .and_then(Comparison::parse)
                .ok_or_else(|| err("unsupported condition type"))?;
            let path = c["LeftValue"]["Std:JsonGet"]["Path"]
                .as_str()
                .ok_or_else(|| err("left value is not a Std:JsonGet of the evaluation"))?;
            let parameter = c["RightValue"]["Get"]
                .as_str()
                .and_then(|g| g.strip_prefix("Parameters."))
                .ok_or_else(|| err("right value is not a pipeline parameter"))?;
            let threshold =
                default_of(parameter).ok_or_else(|| err("its parameter has no numeric default"))?;
            Ok(Condition {
                parameter: parameter.into(),
                path: path.into(),
                comparison,
                threshold,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::EvaluationMetrics;

    fn evaluation(macro_f1: f64, worst: f64, drop: f64) -> Evaluation {
        Evaluation {
            metrics: EvaluationMetrics {
                accuracy: 0.9,
                macro_f1,
                balanced_accuracy: 0.8,
                roc_auc: 0.95,
                worst_class_recall: worst,
                worst_class: "rare".into(),
                production_macro_f1: macro_f1 + drop,
                macro_f1_drop: drop,
            },
            classes: vec!["a".into(), "rare".into()],
            per_class: Vec::new(),
            confusion_matrix: Vec::new(),
            rare_classes: Vec::new(),
            rare_class_max_samples: 50,
            rows: 10,
            model_checksum: "x".into(),
            production_model_checksum: None,
            calibration: Default::default(),
            operating_point: None,
        }
    }

    #[test]
    fn thresholds_are_inclusive_and_every_gate_counts() {
        let gates = Gates {
            min_class_recall: Some(MinGate { min: 0.5 }),
            ..Gates::default()
        };
        assert!(gates.check(&evaluation(0.5, 0.5, 0.02)).passed);
        let r = gates.check(&evaluation(0.9, 0.49, 0.0));
        assert!(!r.passed);
        let failed: Vec<&str> = r
            .results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.condition.parameter.as_str())
            .collect();
        assert_eq!(failed, ["MinClassRecall"]);
        assert!(!gates.check(&evaluation(0.9, 0.9, 0.03)).passed);
    }

    #[test]
    fn a_missing_value_fails_its_gate() {
        let c = Gates::default().conditions();
        let r = check_json(&c, &serde_json::json!({ "metrics": { "macro_f1": 0.9 } }));
        assert!(!r.passed);
        assert_eq!(r.results[1].value, None);
    }

    #[test]
    fn conditions_read_back_from_a_pipeline_definition() {
        let doc = serde_json::json!({
            "Parameters": [
                { "Name": "MinMacroF1", "Type": "Float", "DefaultValue": 0.8 },
                { "Name": "MaxDropVsProduction", "Type": "Float", "DefaultValue": 0.02 }
            ],
            "Steps": [{ "Type": "Condition", "Arguments": { "Conditions": [
                { "Type": "GreaterThanOrEqualTo",
                  "LeftValue": { "Std:JsonGet": { "Path": "metrics.macro_f1" } },
                  "RightValue": { "Get": "Parameters.MinMacroF1" } },
                { "Type": "LessThanOrEqualTo",
                  "LeftValue": { "Std:JsonGet": { "Path": "metrics.macro_f1_drop" } },
                  "RightValue": { "Get": "Parameters.MaxDropVsProduction" } }
            ]}}]
        });
        let gates = Gates {
            macro_f1: Some(MinGate { min: 0.8 }),
            ..Gates::default()
        };
        assert_eq!(conditions_of_pipeline(&doc).unwrap(), gates.conditions());
        assert_eq!(
            conditions_of_pipeline(&serde_json::json!({ "Steps": [] })),
            Err(PipelineGatesError::NoConditionStep)
        );
    }
}
