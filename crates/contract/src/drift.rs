//! The drift statistic both sides name: the spec's `monitoring.drift.method`
//! (rendered into the serving stack as `DXOPS_DRIFT_METHOD`) and the
//! server's and batch monitor's choice of test. The statistics themselves
//! live on the model side.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown drift method `{0}` (expected auto, psi, ks, chi_squared, jensen_shannon or wasserstein)"
)]
pub struct UnknownDriftMethod(pub String);

/// The drift statistic: the spec's `monitoring.drift.method`, passed to the
/// server as `DXOPS_DRIFT_METHOD`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DriftMethod {
    /// Per feature, as Evidently chooses: KS (numeric) or chi-squared
    /// (categorical) for reference sets up to 1,000 rows, Wasserstein or
    /// Jensen-Shannon above.
    #[default]
    Auto,
    /// Population stability index.
    Psi,
    /// Kolmogorov-Smirnov p-value.
    Ks,
    /// Chi-squared p-value.
    ChiSquared,
    /// Jensen-Shannon distance.
    JensenShannon,
    /// Wasserstein distance over the reference standard deviation.
    Wasserstein,
}

impl DriftMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftMethod::Auto => "auto",
            DriftMethod::Psi => "psi",
            DriftMethod::Ks => "ks",
            DriftMethod::ChiSquared => "chi_squared",
            DriftMethod::JensenShannon => "jensen_shannon",
            DriftMethod::Wasserstein => "wasserstein",
        }
    }

    /// Evidently's default threshold for the method.
    pub fn default_threshold(self) -> f64 {
        match self {
            DriftMethod::Ks | DriftMethod::ChiSquared => 0.05,
            DriftMethod::Auto
            | DriftMethod::Psi
            | DriftMethod::JensenShannon
            | DriftMethod::Wasserstein => 0.1,
        }
    }

    /// Whether the score is a p-value (drift when below the threshold)
    /// rather than a distance (drift when at or above it).
    pub fn is_p_value(self) -> bool {
        matches!(self, DriftMethod::Ks | DriftMethod::ChiSquared)
    }
}

impl fmt::Display for DriftMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DriftMethod {
    type Err = UnknownDriftMethod;
    fn from_str(s: &str) -> Result<DriftMethod, UnknownDriftMethod> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "" | "auto" => DriftMethod::Auto,
                "psi" => DriftMethod::Psi,
                "ks" => DriftMethod::Ks,
                "chi_squared" | "chisquared" | "chi2" => DriftMethod::ChiSquared,
                "jensen_shannon" | "jensenshannon" | "js" => DriftMethod::JensenShannon,
                "wasserstein" => DriftMethod::Wasserstein,
                _ => return Err(UnknownDriftMethod(s.to_string())),
            },
        )
    }
}
