//! SMOTE: synthetic minority oversampling. Every class is topped up to the
//! size of the largest class with points interpolated between a member and
//! one of its `k` nearest same-class neighbours (Euclidean distance in the
//! standardised design space). Used only on training folds, never on data
//! that is evaluated. Seeded, so the synthetic samples are reproducible.

use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::preprocess::Matrix;

/// Above this many design columns SMOTE searches exactly.
pub const TREE_MAX_DIMS: usize = 16;
/// Below this many members of a class SMOTE searches exactly.
pub const TREE_MIN_MEMBERS: usize = 200;

/// For each row of `members`, its `k` nearest other members (squared
/// Euclidean distance; ties to the lower row index, so the result does not
/// depend on how the search runs), through linfa-nn's k-d tree when the
/// class is large and the space small (else exactly): the `k + 1`
/// nearest give the distance of the `k`-th, then every member within it is
/// ranked by our own distance and index, so the answer is exactly
/// [`nearest_within_exact`]'s (a test holds it to that, ties included) and
/// models stay byte-identical. Measured beside the exact search and
/// linfa-nn's ball tree and linear search in
/// `benches/model/smote_neighbours.rs` (README, "linfa").
pub fn nearest_within(x: &Matrix, members: &[usize], k: usize) -> Vec<Vec<usize>> {
    if members.len() < 2 || k == 0 {
        return vec![Vec::new(); members.len()];
    }
    // The tree pays for itself only in few dimensions over many rows: on
    // the shipped sets it wins on flchain (10 dimensions, classes of
    // hundreds) and wcgs_chd (11) and loses on every set of 17 or more.
    if x.cols > TREE_MAX_DIMS || members.len() < TREE_MIN_MEMBERS {
        return nearest_within_exact(x, members, k);
    }
    let data = Array2::from_shape_fn((members.len(), x.cols), |(r, j)| x.get(members[r], j));
    let Ok(index) = CommonNearestNeighbour::KdTree.from_batch(&data, L2Dist) else {
        return nearest_within_exact(x, members, k);
    };
    (0..members.len())
        .map(|r| {
            let i = members[r];
            let near = index.k_nearest(data.row(r), k + 1).unwrap_or_default();
            let far = near
                .iter()
                .map(|(_, at)| members[*at])
                .filter(|&j| j != i)
                .take(k)
                .map(|j| squared_distance(x, i, j))
                .fold(0.0, f64::max);
            // A little wider than the k-th distance: linfa-nn's arithmetic
            // may round it differently from ours.
            let radius = far.sqrt() * (1.0 + 1e-9) + 1e-12;
            let Ok(within) = index.within_range(data.row(r), radius) else {
                return exact_one(x, members, i, k);
            };
            let mut ranked: Vec<(f64, usize)> = within
                .into_iter()
                .map(|(_, at)| members[at])
                .filter(|&j| j != i)
                .map(|j| (squared_distance(x, i, j), j))
                .filter(|(d, _)| *d <= far)
                .collect();
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            ranked.into_iter().take(k).map(|(_, j)| j).collect()
        })
        .collect()
}

/// Squared Euclidean distance between rows `i` and `j`: the order SMOTE ranks by.
pub fn squared_distance(x: &Matrix, i: usize, j: usize) -> f64 {
    x.row(i)
        .iter()
        .zip(x.row(j))
        .map(|(a, b)| (a - b) * (a - b))
        .sum()
}

/// The same neighbours by an exact search over every pair: the reference,
/// and the fallback should the tree refuse the data.
pub fn nearest_within_exact(x: &Matrix, members: &[usize], k: usize) -> Vec<Vec<usize>> {
    members
        .iter()
        .map(|&i| exact_one(x, members, i, k))
        .collect()
}

fn exact_one(x: &Matrix, members: &[usize], i: usize, k: usize) -> Vec<usize> {
    let mut dist: Vec<(f64, usize)> = members
        .iter()
        .filter(|&&j| j != i)
        .map(|&j| (squared_distance(x, i, j), j))
        .collect();
    dist.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    dist.into_iter().take(k).map(|(_, j)| j).collect()
}

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
        let nn = nearest_within(x, m, neighbours);
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

    /// The tree search answers exactly what the exact search does, on
    /// data full of ties (duplicated rows, a coarse grid) and of every size
    /// from a pair upwards.
    #[test]
    fn the_tree_finds_exactly_the_exact_searchs_neighbours() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut treed = 0;
        for (rows, cols) in [(2, 1), (9, 3), (320, 2), (400, 8), (330, 16), (150, 40)] {
            let data: Vec<f64> = (0..rows * cols)
                .map(|_| f64::from(rng.random_range(0..4u8)))
                .collect();
            let x = Matrix { data, rows, cols };
            let members: Vec<usize> = (0..rows).filter(|i| i % 3 != 1 || rows < 4).collect();
            treed += usize::from(cols <= TREE_MAX_DIMS && members.len() >= TREE_MIN_MEMBERS);
            for k in [1, 5, 30] {
                assert_eq!(
                    nearest_within(&x, &members, k),
                    nearest_within_exact(&x, &members, k),
                    "{rows} × {cols}, k = {k}"
                );
            }
        }
        assert_eq!(treed, 3, "three cases go through the tree");
    }

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
