//! Shared pieces of the tree models: feature binning and a flat tree layout
//! that prediction walks without allocating.

use serde::{Deserialize, Serialize};

use crate::preprocess::Matrix;

/// Marks a leaf in `Node::feature`.
pub const LEAF: u32 = u32::MAX;

/// One node of a flat binary tree. Inner nodes send `x[feature] <= threshold`
/// to `left`; leaves store an offset into `Tree::values` in `left`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub feature: u32,
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Leaf payloads: one value per leaf (boosting) or one distribution of
    /// `n_classes` values per leaf (forest).
    pub values: Vec<f64>,
}

impl Tree {
    /// Turn `node` into a split on `feature <= threshold` with two fresh
    /// children (leaves until they are split or given payloads); returns the
    /// index of the left child (the right one follows it).
    pub fn split(&mut self, node: usize, feature: usize, threshold: f64) -> usize {
        let left = self.nodes.len();
        let leaf = Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
        };
        self.nodes.push(leaf);
        self.nodes.push(leaf);
        self.nodes[node] = Node {
            feature: feature as u32,
            threshold,
            left: left as u32,
            right: left as u32 + 1,
        };
        left
    }

    /// Offset of the leaf payload that `x` reaches.
    #[inline]
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut i = 0usize;
        loop {
            let n = &self.nodes[i];
            if n.feature == LEAF {
                return n.left as usize;
            }
            // `right` is `left + 1` (see `split`): choosing by arithmetic
            // spares a mispredicted branch per level; NaN goes right, as
            // `x <= threshold` is false for it.
            let goes_left = x[n.feature as usize] <= n.threshold;
            i = n.left as usize + usize::from(!goes_left);
        }
    }

    /// Checks the structure (indices in range, no cycles possible since
    /// children come after parents, siblings side by side as `split` makes
    /// them and `leaf` relies on).
    pub fn is_valid(&self, n_features: usize, payload: usize) -> bool {
        if self.nodes.is_empty() {
            return false;
        }
        self.nodes.iter().enumerate().all(|(i, n)| {
            if n.feature == LEAF {
                (n.left as usize) + payload <= self.values.len()
            } else {
                (n.feature as usize) < n_features
                    && (n.left as usize) > i
                    && u64::from(n.right) == u64::from(n.left) + 1
                    && (n.left as usize) < self.nodes.len()
                    && (n.right as usize) < self.nodes.len()
                    && n.threshold.is_finite()
            }
        })
    }
}

/// Quantised copy of a design matrix: column-major bin indices plus the
/// threshold between bin `b` and `b + 1` (`x <= thresholds[b]` ⇔ bin ≤ b).
pub struct Binned {
    pub bins: Vec<u8>,
    /// The same bins row-major (row `i` at `i * cols..(i + 1) * cols`).
    pub row_bins: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    pub thresholds: Vec<Vec<f64>>,
}

impl Binned {
    pub fn new(x: &Matrix, max_bins: usize) -> Binned {
        let max_bins = max_bins.clamp(2, 256);
        let mut thresholds = Vec::with_capacity(x.cols);
        let mut bins = vec![0u8; x.rows * x.cols];
        let mut col = Vec::with_capacity(x.rows);
        for j in 0..x.cols {
            col.clear();
            col.extend((0..x.rows).map(|i| x.get(i, j)));
            col.sort_by(f64::total_cmp);
            col.dedup();
            let thr: Vec<f64> = if col.len() <= max_bins {
                col.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
            } else {
                // Cut points at evenly spaced quantiles of the distinct values.
                let mut t = Vec::with_capacity(max_bins - 1);
                for b in 1..max_bins {
                    let pos = b * col.len() / max_bins;
                    let v = 0.5 * (col[pos - 1] + col[pos]);
                    if t.last().is_none_or(|&l| v > l) {
                        t.push(v);
                    }
                }
                t
            };
            for i in 0..x.rows {
                let v = x.get(i, j);
                bins[j * x.rows + i] = thr.partition_point(|&t| t < v) as u8;
            }
            thresholds.push(thr);
        }
        let mut row_bins = vec![0u8; x.rows * x.cols];
        for j in 0..x.cols {
            for i in 0..x.rows {
                row_bins[i * x.cols + j] = bins[j * x.rows + i];
            }
        }
        Binned {
            bins,
            row_bins,
            rows: x.rows,
            cols: x.cols,
            thresholds,
        }
    }

    #[inline]
    pub fn column(&self, j: usize) -> &[u8] {
        &self.bins[j * self.rows..(j + 1) * self.rows]
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[u8] {
        &self.row_bins[i * self.cols..(i + 1) * self.cols]
    }

    pub fn n_bins(&self, j: usize) -> usize {
        self.thresholds[j].len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binning_respects_thresholds() {
        let x = Matrix {
            data: vec![1.0, 5.0, 3.0, 3.0, 9.0],
            rows: 5,
            cols: 1,
        };
        let b = Binned::new(&x, 256);
        assert_eq!(b.thresholds[0], vec![2.0, 4.0, 7.0]);
        assert_eq!(b.column(0), &[0, 2, 1, 1, 3]);
        let data: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let x = Matrix {
            data,
            rows: 1000,
            cols: 1,
        };
        let b = Binned::new(&x, 16);
        assert_eq!(b.n_bins(0), 16);
        for i in 0..1000 {
            let bin = b.column(0)[i] as usize;
            let v = i as f64;
            if bin > 0 {
                assert!(v > b.thresholds[0][bin - 1]);
            }
            if bin < 15 {
                assert!(v <= b.thresholds[0][bin]);
            }
        }
    }
}
