//! The cloud gate and the local gate cannot disagree: the rendered
//! pipeline's condition step is derived from the spec's `gates`, reads back
//! as the same conditions, and, interpreted here the way SageMaker runs it
//! (`Std:JsonGet` on `evaluation.json`, compared with the parameter's
//! default), passes exactly the evaluations that `Gates::check` passes.

use std::path::Path;

use serde_json::{Value, json};

use dxops_contract::evaluation::{Evaluation, EvaluationMetrics};
use dxops_contract::gates::{self, Gates, MinGate};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// SageMaker's condition step over one evaluation, written out without
/// the contract's helpers: every condition must hold.
fn condition_step_passes(pipeline: &Value, evaluation: &Value) -> bool {
    let step = pipeline["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Type"] == "Condition")
        .unwrap();
    step["Arguments"]["Conditions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| {
            let path = c["LeftValue"]["Std:JsonGet"]["Path"].as_str().unwrap();
            let left = path
                .split('.')
                .try_fold(evaluation, |v, k| v.get(k))
                .and_then(Value::as_f64);
            let param = c["RightValue"]["Get"]
                .as_str()
                .unwrap()
                .trim_start_matches("Parameters.");
            let right = pipeline["Parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["Name"] == param)
                .unwrap()["DefaultValue"]
                .as_f64()
                .unwrap();
            match (c["Type"].as_str().unwrap(), left) {
                ("GreaterThanOrEqualTo", Some(l)) => l >= right,
                ("LessThanOrEqualTo", Some(l)) => l <= right,
                (other, Some(_)) => panic!("unexpected condition type {other}"),
                (_, None) => false,
            }
        })
}

fn evaluation(macro_f1: f64, worst: f64, auc: f64, drop: f64) -> Evaluation {
    Evaluation {
        metrics: EvaluationMetrics {
            accuracy: 0.9,
            macro_f1,
            balanced_accuracy: 0.85,
            roc_auc: auc,
            worst_class_recall: worst,
            worst_class: "rare".into(),
            production_macro_f1: macro_f1 + drop,
            macro_f1_drop: drop,
        },
        classes: vec!["healthy".into(), "rare".into()],
        per_class: Vec::new(),
        confusion_matrix: Vec::new(),
        rare_classes: vec!["rare".into()],
        rare_class_max_samples: 50,
        rows: 100,
        model_checksum: "candidate".into(),
        production_model_checksum: None,
        calibration: Default::default(),
        operating_point: None,
    }
}

/// Evaluations on both sides of every threshold the example specs use.
fn evaluations() -> Vec<Evaluation> {
    let mut out = Vec::new();
    for macro_f1 in [0.3, 0.5, 0.6, 0.79, 0.8, 0.95] {
        for worst in [0.2, 0.3, 0.5, 0.7] {
            for auc in [0.7, 0.75, 0.85, 0.99] {
                for drop in [-0.05, 0.0, 0.02, 0.021] {
                    out.push(evaluation(macro_f1, worst, auc, drop));
                }
            }
        }
    }
    out
}

#[test]
fn the_rendered_condition_step_and_the_local_gate_agree() {
    let renderer = dxops_spec::render::Renderer::embedded().unwrap();
    let mut environments = 0;
    for spec_file in ["specs/disease-prediction.yaml", "specs/minimal.yaml"] {
        let text = std::fs::read_to_string(root().join(spec_file)).unwrap();
        let spec = dxops_spec::spec::load(spec_file, &text).unwrap();
        for env in spec.environments.values() {
            let files = renderer.render_env(&spec, env).unwrap();
            let pipeline: Value = serde_json::from_str(
                &files
                    .iter()
                    .find(|f| f.path.ends_with("pipeline.json"))
                    .unwrap()
                    .contents,
            )
            .unwrap();
            let gates = &env.spec.gates;
            assert_eq!(
                gates::conditions_of_pipeline(&pipeline).unwrap(),
                gates.conditions(),
                "{spec_file} {}",
                env.env
            );
            let mut both = [0, 0];
            for ev in evaluations() {
                let local = gates.check(&ev).passed;
                let cloud = condition_step_passes(&pipeline, &serde_json::to_value(&ev).unwrap());
                assert_eq!(local, cloud, "{spec_file} {}: {:?}", env.env, ev.metrics);
                both[usize::from(local)] += 1;
            }
            assert!(both[0] > 0 && both[1] > 0, "evaluations on both sides");
            environments += 1;
        }
    }
    assert_eq!(environments, 3);
}

#[test]
fn changing_a_threshold_in_the_rendered_file_moves_the_gate_read_back_from_it() {
    let path = root().join("stacks/disease-prediction/prod/pipeline.json");
    let mut pipeline: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ev = serde_json::to_value(evaluation(0.85, 0.7, 0.99, 0.0)).unwrap();
    let before = gates::check_json(&gates::conditions_of_pipeline(&pipeline).unwrap(), &ev);
    assert!(before.passed, "{before:?}");
    for p in pipeline["Parameters"].as_array_mut().unwrap() {
        if p["Name"] == "MinMacroF1" {
            p["DefaultValue"] = json!(0.9);
        }
    }
    let after = gates::check_json(&gates::conditions_of_pipeline(&pipeline).unwrap(), &ev);
    assert!(!after.passed);
    assert!(!condition_step_passes(&pipeline, &ev));
    let failed: Vec<_> = after.results.iter().filter(|r| !r.passed).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].condition.parameter, "MinMacroF1");
    assert_eq!(failed[0].value, Some(0.85));
}

#[test]
fn default_gates_guard_against_regressions() {
    let g = Gates {
        macro_f1: Some(MinGate { min: 0.8 }),
        ..Gates::default()
    };
    assert!(g.check(&evaluation(0.85, 0.7, 0.99, 0.02)).passed);
    assert!(!g.check(&evaluation(0.85, 0.7, 0.99, 0.03)).passed);
}
