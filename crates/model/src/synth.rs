//! Synthetic patient cohort generator — a **simulation**, not real patients.
//!
//! Each row is one patient: demographics (age, sex), vitals (BMI, blood
//! pressure, heart rate, temperature), labs (glucose, HbA1c, creatinine,
//! CRP, white cell count, haemoglobin) and symptom flags (0/1). The label is
//! one of several conditions with clinically plausible, overlapping
//! signatures:
//!
//! | class | share | signature |
//! |---|---|---|
//! | `healthy` | ~55% | reference ranges |
//! | `type2_diabetes` | ~18% | older, higher BMI, glucose and HbA1c, polyuria |
//! | `infection` | ~11% | fever, CRP and WBC up, heart rate up |
//! | `heart_failure` | ~8% | older, dyspnoea, oedema, heart rate up, mild creatinine rise |
//! | `chronic_kidney_disease` | ~6% | creatinine up, haemoglobin down, BP up |
//! | `lupus` | ~1.5% (rare) | younger women, rash, joint pain, CRP up, haemoglobin down |
//! | `pheochromocytoma` | ~0.5% (very rare) | paroxysmal hypertension, tachycardia, sweating, glucose up, weight loss |
//!
//! About 3% of lab values (15% of HbA1c) are missing at random. The
//! generator is seeded (ChaCha8), so the same `rows` and `seed` give the
//! same file. It exists for orphan-disease scenarios and tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::data::Table;

pub const CLASSES: [(&str, f64); 7] = [
    ("healthy", 0.55),
    ("type2_diabetes", 0.18),
    ("infection", 0.11),
    ("heart_failure", 0.08),
    ("chronic_kidney_disease", 0.06),
    ("lupus", 0.015),
    ("pheochromocytoma", 0.005),
];

pub const COLUMNS: [&str; 22] = [
    "age",
    "sex",
    "bmi",
    "systolic_bp",
    "diastolic_bp",
    "heart_rate",
    "temperature",
    "glucose",
    "hba1c",
    "creatinine",
    "crp",
    "wbc",
    "hemoglobin",
    "smoker",
    "fever",
    "cough",
    "fatigue",
    "dyspnea",
    "polyuria",
    "rash",
    "joint_pain",
    "sweating",
];

fn normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn flag(rng: &mut ChaCha8Rng, p: f64) -> f64 {
    if rng.random::<f64>() < p { 1.0 } else { 0.0 }
}

/// Generates `rows` patients. With `ids`, a first column `patient_id` holds
/// a synthetic identifier (for de-identification tests).
pub fn generate(rows: usize, seed: u64, ids: bool) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut headers: Vec<String> = Vec::new();
    if ids {
        headers.push("patient_id".into());
    }
    headers.extend(COLUMNS.iter().map(|s| s.to_string()));
    headers.push("diagnosis".into());
    let mut out = Vec::with_capacity(rows);
    for r in 0..rows {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut class = 0;
        for (i, (_, p)) in CLASSES.iter().enumerate() {
            acc += p;
            if u < acc {
                class = i;
                break;
            }
            class = i;
        }
        let name = CLASSES[class].0;
        let (age_m, female_p) = match name {
            "type2_diabetes" => (62.0, 0.45),
            "heart_failure" => (72.0, 0.45),
            "chronic_kidney_disease" => (66.0, 0.5),
            "lupus" => (36.0, 0.9),
            "pheochromocytoma" => (45.0, 0.5),
            "infection" => (50.0, 0.5),
            _ => (48.0, 0.52),
        };
        let age = normal(&mut rng, age_m, 13.0).clamp(18.0, 98.0).round();
        let sex = if rng.random::<f64>() < female_p {
            0.0
        } else {
            1.0
        };
        let is = |n: &str| name == n;
        let bmi = normal(
            &mut rng,
            if is("type2_diabetes") { 32.0 } else { 26.0 },
            4.5,
        )
        .clamp(15.0, 60.0);
        let sys = normal(
            &mut rng,
            match name {
                "pheochromocytoma" => 172.0,
                "chronic_kidney_disease" => 148.0,
                "heart_failure" | "type2_diabetes" => 138.0,
                _ => 124.0,
            },
            if is("pheochromocytoma") { 22.0 } else { 14.0 },
        )
        .clamp(80.0, 240.0);
        let dia = (sys * 0.6 + normal(&mut rng, 5.0, 7.0)).clamp(40.0, 140.0);
        let hr = normal(
            &mut rng,
            match name {
                "pheochromocytoma" => 108.0,
                "infection" => 98.0,
                "heart_failure" => 92.0,
                _ => 74.0,
            },
            11.0,
        )
        .clamp(35.0, 190.0);
        let temp = normal(
            &mut rng,
            if is("infection") { 38.4 } else { 36.8 },
            if is("infection") { 0.8 } else { 0.35 },
        );
        let glucose = normal(
            &mut rng,
            match name {
                "type2_diabetes" => 165.0,
                "pheochromocytoma" => 128.0,
                "infection" => 108.0,
                _ => 94.0,
            },
            if is("type2_diabetes") { 40.0 } else { 14.0 },
        )
        .clamp(45.0, 500.0);
        let hba1c = (if is("type2_diabetes") {
            normal(&mut rng, 7.9, 1.3)
        } else {
            normal(&mut rng, 5.4, 0.45)
        })
        .clamp(3.8, 15.0);
        let creat = match name {
            "chronic_kidney_disease" => normal(&mut rng, 2.6, 0.9),
            "heart_failure" => normal(&mut rng, 1.35, 0.35),
            _ => normal(&mut rng, 0.7 + 0.25 * sex, 0.18),
        }
        .clamp(0.3, 12.0);
        let crp = (match name {
            "infection" => normal(&mut rng, 4.2, 0.8),
            "lupus" => normal(&mut rng, 2.9, 0.7),
            "heart_failure" => normal(&mut rng, 1.6, 0.7),
            _ => normal(&mut rng, 0.6, 0.8),
        })
        .exp()
        .clamp(0.1, 400.0);
        let wbc = normal(
            &mut rng,
            match name {
                "infection" => 14.5,
                "lupus" => 4.2,
                _ => 7.0,
            },
            if is("infection") { 3.5 } else { 1.7 },
        )
        .clamp(1.0, 40.0);
        let hb = normal(
            &mut rng,
            match name {
                "chronic_kidney_disease" => 10.6,
                "lupus" => 11.2,
                _ => 13.2 + 1.5 * sex,
            },
            1.2,
        )
        .clamp(5.0, 19.0);
        let smoker = flag(&mut rng, if is("heart_failure") { 0.35 } else { 0.2 });
        let fever = flag(
            &mut rng,
            if is("infection") {
                0.8
            } else if is("lupus") {
                0.3
            } else {
                0.04
            },
        );
        let cough = flag(
            &mut rng,
            if is("infection") {
                0.55
            } else if is("heart_failure") {
                0.3
            } else {
                0.08
            },
        );
        let fatigue = flag(&mut rng, if is("healthy") { 0.12 } else { 0.55 });
        let dyspnea = flag(
            &mut rng,
            if is("heart_failure") {
                0.8
            } else if is("infection") {
                0.25
            } else {
                0.05
            },
        );
        let polyuria = flag(&mut rng, if is("type2_diabetes") { 0.5 } else { 0.05 });
        let rash = flag(&mut rng, if is("lupus") { 0.7 } else { 0.03 });
        let joint = flag(
            &mut rng,
            if is("lupus") {
                0.8
            } else {
                0.1 + 0.002 * (age - 18.0)
            },
        );
        let sweat = flag(
            &mut rng,
            if is("pheochromocytoma") {
                0.75
            } else if is("infection") {
                0.3
            } else {
                0.05
            },
        );
        let values = [
            age, sex, bmi, sys, dia, hr, temp, glucose, hba1c, creat, crp, wbc, hb, smoker, fever,
            cough, fatigue, dyspnea, polyuria, rash, joint, sweat,
        ];
        let mut row: Vec<String> = Vec::with_capacity(headers.len());
        if ids {
            row.push(format!("P{:07}", r + 1));
        }
        for (j, v) in values.iter().enumerate() {
            let missing_p = match COLUMNS[j] {
                "hba1c" => 0.15,
                "glucose" | "creatinine" | "crp" | "wbc" | "hemoglobin" => 0.03,
                _ => 0.0,
            };
            if missing_p > 0.0 && rng.random::<f64>() < missing_p {
                row.push(String::new());
            } else if matches!(COLUMNS[j], "age" | "sex") || j >= 13 {
                row.push(format!("{v}"));
            } else {
                row.push(format!("{:.2}", v));
            }
        }
        row.push(name.to_string());
        out.push(row);
    }
    Table {
        headers,
        rows: out,
        sha256: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_has_rare_classes() {
        let a = generate(4000, 7, true);
        assert_eq!(a.rows, generate(4000, 7, true).rows);
        assert_ne!(a.rows, generate(4000, 8, true).rows);
        let label = a.column_index("diagnosis").unwrap();
        for (name, p) in CLASSES {
            let n = a.rows.iter().filter(|r| r[label] == name).count() as f64 / 4000.0;
            assert!((n - p).abs() < 0.02 + p * 0.5, "{name}: {n}");
        }
        let hba1c = a.column_index("hba1c").unwrap();
        let missing = a.rows.iter().filter(|r| r[hba1c].is_empty()).count();
        assert!(missing > 300 && missing < 900, "{missing}");
    }
}
