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

    /// The format an `Accept` header prefers. Each format's quality is that
    /// of the most specific media range matching it (`q` defaults to 1;
    /// `q=0` excludes); the highest quality wins, then the range listed
    /// first, then JSON, JSON lines, CSV. Absent or empty means JSON.
    /// `None`: nothing acceptable (406).
    pub fn from_accept(accept: Option<&str>) -> Option<OutputFormat> {
        let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
            return Some(OutputFormat::Json);
        };
        const ALL: [OutputFormat; 3] = [
            OutputFormat::Json,
            OutputFormat::JsonLines,
            OutputFormat::Csv,
        ];
        // Per format: (specificity, quality, position) of its best match.
        let mut best: [Option<(u8, f64, usize)>; 3] = [None; 3];
        for (pos, range) in accept.split(',').enumerate() {
            let mut parts = range.split(';');
            let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = Some(1.0);
            for p in parts {
                if let Some((k, v)) = p.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = parse_q(v.trim());
                }
            }
            // A malformed q-value makes the range meaningless: skip it.
            let Some(q) = q else { continue };
            for (i, f) in ALL.iter().enumerate() {
                let Some(spec) = f.matches(&mime) else {
                    continue;
                };
                if best[i].is_none_or(|(s, _, _)| spec > s) {
                    best[i] = Some((spec, q, pos));
                }
            }
        }
        let mut chosen: Option<(OutputFormat, f64, usize)> = None;
        for (f, b) in ALL.iter().zip(best) {
            let Some((_, q, pos)) = b.filter(|&(_, q, _)| q > 0.0) else {
                continue;
            };
            if chosen.is_none_or(|(_, cq, cpos)| q > cq || (q == cq && pos < cpos)) {
                chosen = Some((*f, q, pos));
            }
        }
        chosen.map(|(f, _, _)| f)
    }

    /// How specifically `mime` names this format: 3 exactly, 2 by
    /// `type/*`, 1 by `*/*`.
    fn matches(self, mime: &str) -> Option<u8> {
        let exact = match self {
            OutputFormat::Json => mime == "application/json",
            OutputFormat::JsonLines => matches!(
                mime,
                "application/jsonlines"
                    | "application/jsonl"
                    | "application/x-jsonlines"
                    | "application/x-ndjson"
            ),
            OutputFormat::Csv => mime == "text/csv",
        };
        let family = match self {
            OutputFormat::Json | OutputFormat::JsonLines => "application/*",
            OutputFormat::Csv => "text/*",
        };
        if exact {
            Some(3)
        } else if mime == family {
            Some(2)
        } else if mime == "*/*" {
            Some(1)
        } else {
            None
        }
    }
}

/// An RFC 9110 qvalue: `0`, `1` or a decimal in between with at most three
/// digits after the point.
fn parse_q(v: &str) -> Option<f64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(int == "0" || int == "1") || frac.len() > 3 || !digits(frac) {
        return None;
    }
    let q: f64 = v.parse().ok()?;
    (q <= 1.0).then_some(q)
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
    render_bounded(format, predictions, classes, features, usize::MAX).unwrap_or_default()
}

/// As [`render`], but `None` as soon as the text would exceed `max_bytes`
/// (rendering stops there rather than building the whole text).
pub fn render_bounded(
    format: OutputFormat,
    predictions: &[Prediction],
    classes: &[String],
    features: &[String],
    max_bytes: usize,
) -> Option<String> {
    let estimate = 64 + predictions.len() * (48 + 24 * classes.len());
    let mut out = String::with_capacity(estimate.min(max_bytes));
    match format {
        OutputFormat::Json => {
            out.push_str("{\"predictions\":[");
            for (i, p) in predictions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_object(&mut out, p, classes, features);
                if out.len() > max_bytes {
                    return None;
                }
            }
            out.push_str("]}");
        }
        OutputFormat::JsonLines => {
            for p in predictions {
                json_object(&mut out, p, classes, features);
                out.push('\n');
                if out.len() > max_bytes {
                    return None;
                }
            }
        }
        OutputFormat::Csv => {
            for p in predictions {
                csv_field(&mut out, &classes[p.class]);
                for v in &p.probabilities {
                    let _ = write!(out, ",{v}");
                }
                let _ = writeln!(out, ",{}", u8::from(!p.out_of_range.is_empty()));
                if out.len() > max_bytes {
                    return None;
                }
            }
        }
    }
    (out.len() <= max_bytes).then_some(out)
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
        // q=0 means "not acceptable", for wildcards as for exact types.
        for none in [
            "*/*;q=0",
            "*/*; q=0.000",
            "application/json;q=0, application/*;q=0, text/csv;q=0, */*;q=1;q=0",
            "text/*;q=0",
        ] {
            assert_eq!(OutputFormat::from_accept(Some(none)), None, "{none}");
        }
        assert_eq!(
            OutputFormat::from_accept(Some("application/json;q=0, */*")),
            Some(OutputFormat::JsonLines)
        );
        assert_eq!(
            OutputFormat::from_accept(Some("application/*;q=0, */*")),
            Some(OutputFormat::Csv)
        );
        assert_eq!(
            OutputFormat::from_accept(Some("text/csv;q=0.5, application/json")),
            Some(OutputFormat::Json)
        );
        assert_eq!(
            OutputFormat::from_accept(Some("text/csv, application/json")),
            Some(OutputFormat::Csv)
        );
        assert_eq!(
            OutputFormat::from_accept(Some("*/*;q=0.1, text/csv;q=0.2")),
            Some(OutputFormat::Csv)
        );
        // A malformed q-value drops its range.
        assert_eq!(OutputFormat::from_accept(Some("text/csv;q=2")), None);
        assert_eq!(
            OutputFormat::from_accept(Some("text/csv;q=abc, application/json")),
            Some(OutputFormat::Json)
        );
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
        let full = render(OutputFormat::Json, &p, &classes, &features);
        assert_eq!(
            render_bounded(OutputFormat::Json, &p, &classes, &features, full.len()),
            Some(full.clone())
        );
        for f in [
            OutputFormat::Json,
            OutputFormat::JsonLines,
            OutputFormat::Csv,
        ] {
            assert_eq!(render_bounded(f, &p, &classes, &features, 20), None);
        }
        let lines = render(OutputFormat::JsonLines, &p, &classes, &features);
        assert_eq!(lines.lines().count(), 2);
        assert_eq!(
            render(OutputFormat::Csv, &p, &classes, &features),
            "\"M,x\",0.25,0.75,1\nB,1,0,0\n"
        );
    }
}
