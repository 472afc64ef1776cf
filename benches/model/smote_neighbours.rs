//! SMOTE's neighbour search, ours beside linfa-nn's, on every shipped data
//! set: for each class SMOTE tops up (all but the largest), the 5 nearest
//! same-class rows of every member, in the standardised design space the
//! models see. The exact search over every pair (what SMOTE used first);
//! what SMOTE uses now (linfa-nn's k-d tree, then the candidates within the
//! k-th distance ranked as the exact search ranks them); and linfa-nn's k-d
//! tree, ball tree and linear search alone. Reports wall and CPU time per
//! method (each repeated until 0.3 s of wall), and how many members' sets
//! of neighbours differ from ours (ties aside: a differing member whose
//! farthest neighbour is as far as ours counts as agreeing).
//!
//! cargo run --release --locked -p dxops-model --example smote_neighbours

#[path = "support.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use dxops_ml::data::{Dataset, Table};
use dxops_ml::models::smote::{nearest_within, nearest_within_exact, squared_distance};
use dxops_ml::preprocess::Preprocessor;
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use ndarray::Array2;

const K: usize = 5;

/// Mean wall and CPU seconds of one call, repeated until 0.3 s of wall.
fn timed<T>(mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let (wall, cpu) = (Instant::now(), support::cpu_seconds());
    let mut runs = 0;
    let out = loop {
        let out = f();
        runs += 1;
        if wall.elapsed() > Duration::from_millis(300) {
            break out;
        }
    };
    (
        wall.elapsed().as_secs_f64() / runs as f64,
        (support::cpu_seconds() - cpu) / runs as f64,
        out,
    )
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let mut sets: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    sets.sort();
    println!(
        "| set | rows × dims | members searched | exact | SMOTE's (tree, exact ranking) | k-d tree | ball tree | linear | differing |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut totals = [(0.0, 0.0); 5];
    for path in sets {
        let table = Table::read(&path).unwrap();
        let ds = Dataset::from_table(&table, "label", &[]).unwrap();
        let x = Preprocessor::fit(&ds.features, &ds.rows)
            .transform(&ds.rows)
            .unwrap();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); ds.classes.len()];
        for (i, &c) in ds.y.iter().enumerate() {
            members[c].push(i);
        }
        let largest = members.iter().map(Vec::len).max().unwrap_or(0);
        let classes: Vec<&Vec<usize>> = members
            .iter()
            .filter(|m| m.len() > 1 && m.len() < largest)
            .collect();
        let searched: usize = classes.iter().map(|m| m.len()).sum();

        let (w, c, ours) = timed(|| {
            classes
                .iter()
                .map(|m| nearest_within_exact(&x, m, K))
                .collect::<Vec<_>>()
        });
        let (tw, tc, tree) = timed(|| {
            classes
                .iter()
                .map(|m| nearest_within(&x, m, K))
                .collect::<Vec<_>>()
        });
        assert_eq!(tree, ours, "SMOTE's search must equal the exact one");
        let mut row = vec![(w, c), (tw, tc)];
        let mut differing = 0;
        for method in [
            CommonNearestNeighbour::KdTree,
            CommonNearestNeighbour::BallTree,
            CommonNearestNeighbour::LinearSearch,
        ] {
            let (w, c, theirs) = timed(|| {
                classes
                    .iter()
                    .map(|m| {
                        let data =
                            Array2::from_shape_fn((m.len(), x.cols), |(r, j)| x.get(m[r], j));
                        let index = method.from_batch(&data, L2Dist).unwrap();
                        (0..m.len())
                            .map(|r| {
                                index
                                    .k_nearest(data.row(r), K + 1)
                                    .unwrap()
                                    .into_iter()
                                    .map(|(_, at)| m[at])
                                    .filter(|&j| j != m[r])
                                    .take(K)
                                    .collect::<Vec<usize>>()
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            });
            row.push((w, c));
            let mut differ = 0;
            for (m, (a, b)) in classes.iter().zip(ours.iter().zip(&theirs)) {
                for (r, (na, nb)) in a.iter().zip(b).enumerate() {
                    let (mut sa, mut sb) = (na.clone(), nb.clone());
                    sa.sort();
                    sb.sort();
                    if sa == sb {
                        continue;
                    }
                    let far = |n: &[usize]| {
                        n.iter()
                            .map(|&j| squared_distance(&x, m[r], j))
                            .fold(0.0, f64::max)
                    };
                    if na.len() != nb.len() || (far(na) - far(nb)).abs() > 1e-9 {
                        differ += 1;
                    }
                }
            }
            differing = differing.max(differ);
        }
        for (t, (w, c)) in totals.iter_mut().zip(&row) {
            t.0 += w;
            t.1 += c;
        }
        let cell = |(w, c): (f64, f64)| format!("{:.2} / {:.2} ms", w * 1e3, c * 1e3);
        println!(
            "| {} | {} × {} | {searched} | {} | {} | {} | {} | {} | {differing} |",
            path.file_stem().unwrap().to_string_lossy(),
            x.rows,
            x.cols,
            cell(row[0]),
            cell(row[1]),
            cell(row[2]),
            cell(row[3]),
            cell(row[4]),
        );
    }
    let cell = |(w, c): (f64, f64)| format!("{:.2} / {:.2} ms", w * 1e3, c * 1e3);
    println!(
        "| all sets | | | {} | {} | {} | {} | {} | |",
        cell(totals[0]),
        cell(totals[1]),
        cell(totals[2]),
        cell(totals[3]),
        cell(totals[4])
    );
}
