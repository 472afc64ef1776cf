//! Records for a run without `--data`: the simulated cohort, written the way
//! the rendered ingest writes real records, so the processing step reads
//! exactly what it reads on AWS.
//!
//! Four in five records arrive through the API (one JSON object per file
//! under `incoming/api/`, as the ingest Lambda stores a request body), the
//! rest from bedside devices through the IoT rule (the device message as
//! published, under `incoming/iot/<topic>/`, vitals nested as a device
//! sends them). The cohort is a simulation, not patients.

use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use dxops_ml::data::Table;

use crate::RunError;

/// Vital signs a bedside device reports; the rest of its message is the
/// patient's record as the device's host knows it.
const DEVICE_VITALS: [&str; 4] = ["heart_rate", "systolic_bp", "diastolic_bp", "temperature"];

/// A record name that is unique, stable for the same seed and row, and
/// carries nothing of the record.
fn record_id(seed: u64, row: usize) -> String {
    let digest = Sha256::digest(format!("{seed}/{row}").as_bytes());
    hex::encode(&digest[..8])
}

fn json_value(cell: &str) -> Value {
    if dxops_ml::data::is_missing(cell) {
        return Value::Null;
    }
    match cell.parse::<f64>() {
        Ok(x) if x.is_finite() => {
            serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
        }
        _ => Value::String(cell.to_string()),
    }
}

/// Writes `table` under `raw` (the raw bucket's root) as ingest would.
/// Returns the number of API and device records.
pub fn write_as_ingest(table: &Table, raw: &Path, seed: u64) -> Result<(usize, usize), RunError> {
    let mut counts = (0, 0);
    for (i, row) in table.rows.iter().enumerate() {
        let id = record_id(seed, i);
        let mut record = Map::new();
        let mut vitals = Map::new();
        let from_device = i % 5 == 4;
        for (h, cell) in table.headers.iter().zip(row) {
            let v = json_value(cell);
            if from_device && DEVICE_VITALS.contains(&h.as_str()) {
                vitals.insert(h.clone(), v);
            } else {
                record.insert(h.clone(), v);
            }
        }
        let (path, body) = if from_device {
            record.insert("vitals".into(), Value::Object(vitals));
            counts.1 += 1;
            let device = i % 17;
            (
                raw.join(format!(
                    "incoming/iot/devices/{device}/vitals/{:013}-{id}.json",
                    1_764_547_200_000u64 + i as u64
                )),
                Value::Object(record),
            )
        } else {
            counts.0 += 1;
            (
                raw.join(format!("incoming/api/{id}.json")),
                Value::Object(record),
            )
        };
        crate::write_text(&path, &body.to_string())?;
    }
    Ok(counts)
}
