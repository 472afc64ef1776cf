//! What the model benchmark's examples share: the process CPU clock and a
//! vendored set read with the outer folds `dxops-model cv --folds-out` wrote.

use std::path::Path;

use dxops_ml::data::{Dataset, Table};

/// CPU seconds this process has used (all threads).
#[allow(dead_code)] // not every example times itself
pub fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the kernel to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// The set of an argument `DATA.csv:FOLDS.txt` (label column `label`): its
/// file name, its rows and each row's outer fold; panics, naming the file,
/// on anything malformed.
#[allow(dead_code)] // not every example reads folds
pub fn set_with_folds(arg: &str) -> (String, Dataset, Vec<usize>) {
    let (csv, folds) = arg
        .split_once(':')
        .expect("arguments are DATA.csv:FOLDS.txt");
    let table = Table::read(Path::new(csv)).expect("readable CSV");
    let ds = Dataset::from_table(&table, "label", &[]).expect("a label column");
    let fold_of: Vec<usize> = std::fs::read_to_string(folds)
        .expect("readable folds file")
        .lines()
        .map(|l| l.trim().parse().expect("one fold index a line"))
        .collect();
    assert_eq!(
        fold_of.len(),
        ds.y.len(),
        "{folds}: one fold per row of {csv}"
    );
    let name = Path::new(csv).file_name().unwrap_or_default();
    (name.to_string_lossy().into_owned(), ds, fold_of)
}
