//! Prediction responses: JSON, JSON lines or CSV, chosen by `Accept`.
//!
//! Per row: the predicted class, the probability of each class (in the
//! model's class order), and whether a numeric value lay outside the range
//! seen in training (with those features' names).

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    JsonLines,
    Csv,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Json => "application/json",
            OutputFormat::JsonLines => "application/jsonlines",
            OutputFormat::Csv => "text/csv",
        }
    }

    /// The first supported media range of an `Accept` header, in the order
    /// given; absent, empty or wildcard means JSON. `None`: nothing acceptable.
    pub fn from_accept(accept: Option<&str>) -> Option<OutputFormat> {
        let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
            return Some(OutputFormat::Json);
        };
        for range in accept.split(',') {
            let mime = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let f = match mime.as_str() {
                "application/json" | "*/*" | "application/*" => Some(OutputFormat::Json),
                "application/jsonlines"
                | "application/jsonl"
                | "application/x-jsonlines"
                | "application/x-ndjson" => Some(OutputFormat::JsonLines),
                "text/csv" | "text/*" => Some(OutputFormat::Csv),
                _ => None,
            };
            if f.is_some() {
                return f;
            }
        }
        None
    }
}

/// One scored row.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub class: usize,
    pub probabilities: Vec<f64>,
    /// Indices of features whose value lay outside the training range.
    pub out_of_range: Vec<usize>,
}

fn json_string(out: &mut String, s: &str) {
    // Serialising a &str to JSON cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

fn json_object(out: &mut String, p: &Prediction, classes: &[String], features: &[String]) {
    out.push_str("{\"predicted_label\":");
    json_string(out, &classes[p.class]);
    out.push_str(",\"probabilities\":{");
    for (i, (c, v)) in classes.iter().zip(&p.probabilities).enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, c);
        let _ = write!(out, ":{v}");
    }
    let _ = write!(
        out,
        "}},\"out_of_range\":{},\"out_of_range_features\":[",
        !p.out_of_range.is_empty()
    );
    for (i, &f) in p.out_of_range.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, &features[f]);
    }
    out.push_str("]}");
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Renders predictions. CSV rows are `label,p_class1,…,p_classK,out_of_range`
/// (no header; `out_of_range` is 0 or 1).
pub fn render(
    format: OutputFormat,
    predictions: &[Prediction],
    classes: &[String],
    features: &[String],
) -> String {
    let mut out = String::with_capacity(64 + predictions.len() * (48 + 24 * classes.len()));
    match format {
        OutputFormat::Json => {
            out.push_str("{\"predictions\":[");
            for (i, p) in predictions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_object(&mut out, p, classes, features);
            }
            out.push_str("]}");
        }
        OutputFormat::JsonLines => {
            for p in predictions {
                json_object(&mut out, p, classes, features);
                out.push('\n');
            }
        }
        OutputFormat::Csv => {
            for p in predictions {
                csv_field(&mut out, &classes[p.class]);
                for v in &p.probabilities {
                    let _ = write!(out, ",{v}");
                }
                let _ = writeln!(out, ",{}", u8::from(!p.out_of_range.is_empty()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert_eq!(OutputFormat::from_accept(None), Some(OutputFormat::Json));
        assert_eq!(
            OutputFormat::from_accept(Some("*/*")),
            Some(OutputFormat::Json)
        );
        assert_eq!(
            OutputFormat::from_accept(Some("text/csv")),
            Some(OutputFormat::Csv)
        );
        assert_eq!(
            OutputFormat::from_accept(Some("image/png, application/jsonlines;q=0.5")),
            Some(OutputFormat::JsonLines)
        );
        assert_eq!(OutputFormat::from_accept(Some("image/png")), None);
    }

    #[test]
    fn rendering() {
        let classes = vec!["B".to_string(), "M,x".to_string()];
        let features = vec!["a".to_string(), "b".to_string()];
        let p = vec![
            Prediction {
                class: 1,
                probabilities: vec![0.25, 0.75],
                out_of_range: vec![1],
            },
            Prediction {
                class: 0,
                probabilities: vec![1.0, 0.0],
                out_of_range: vec![],
            },
        ];
        let json: serde_json::Value =
            serde_json::from_str(&render(OutputFormat::Json, &p, &classes, &features)).unwrap();
        assert_eq!(json["predictions"][0]["predicted_label"], "M,x");
        assert_eq!(json["predictions"][0]["probabilities"]["M,x"], 0.75);
        assert_eq!(json["predictions"][0]["out_of_range"], true);
        assert_eq!(json["predictions"][0]["out_of_range_features"][0], "b");
        assert_eq!(json["predictions"][1]["out_of_range"], false);
        let lines = render(OutputFormat::JsonLines, &p, &classes, &features);
        assert_eq!(lines.lines().count(), 2);
        assert_eq!(
            render(OutputFormat::Csv, &p, &classes, &features),
            "\"M,x\",0.25,0.75,1\nB,1,0,0\n"
        );
    }
}
