//! SMOTE: synthetic minority oversampling. Every class is topped up to the
//! size of the largest class with points interpolated between a member and
//! one of its `k` nearest same-class neighbours (Euclidean distance in the
//! standardised design space). Used only on training folds, never on data
//! that is evaluated. Seeded, so the synthetic samples are reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::preprocess::Matrix;

pub fn oversample(
    x: &Matrix,
    y: &[usize],
    k: usize,
    neighbours: usize,
    seed: u64,
) -> (Matrix, Vec<usize>) {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in y.iter().enumerate() {
        members[c].push(i);
    }
    let target = members.iter().map(Vec::len).max().unwrap_or(0);
    let mut data = x.data.clone();
    let mut ys = y.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0053_4D4F_5445);
    let d = x.cols;
    for (c, m) in members.iter().enumerate() {
        if m.is_empty() || m.len() >= target {
            continue;
        }
        // Nearest neighbours within the class.
        let nn: Vec<Vec<usize>> = m
            .iter()
            .map(|&i| {
                let mut dist: Vec<(f64, usize)> = m
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| {
                        let s: f64 = x
                            .row(i)
                            .iter()
                            .zip(x.row(j))
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum();
                        (s, j)
                    })
                    .collect();
                dist.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                dist.into_iter().take(neighbours).map(|(_, j)| j).collect()
            })
            .collect();
        for s in 0..target - m.len() {
            let a = s % m.len();
            let base = x.row(m[a]);
            if nn[a].is_empty() {
                data.extend_from_slice(base);
            } else {
                let other = x.row(nn[a][rng.random_range(0..nn[a].len())]);
                let lam: f64 = rng.random();
                data.extend((0..d).map(|j| base[j] + lam * (other[j] - base[j])));
            }
            ys.push(c);
        }
    }
    let rows = ys.len();
    (
        Matrix {
            data,
            rows,
            cols: d,
        },
        ys,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_classes_within_the_hull() {
        let x = Matrix {
            data: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 11.0],
            rows: 8,
            cols: 1,
        };
        let y = vec![0, 0, 0, 0, 0, 0, 1, 1];
        let (xs, ys) = oversample(&x, &y, 2, 5, 1);
        assert_eq!(ys.iter().filter(|&&c| c == 1).count(), 6);
        assert_eq!(xs.rows, 12);
        for i in 8..12 {
            let v = xs.get(i, 0);
            assert!((10.0..=11.0).contains(&v), "{v}");
        }
        assert_eq!(oversample(&x, &y, 2, 5, 1), (xs, ys));
    }
}
