//! Random forest of Gini trees on quantile histograms: bootstrap samples,
//! `√d` candidate features per split, sample weights (class-balanced when
//! requested), leaves holding weighted class distributions; the forest's
//! probability is the mean of its trees' leaf distributions. Tree `t` draws
//! from its own ChaCha stream seeded by `(seed, t)`, so results do not depend
//! on the order or thread trees are built on.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::tree::{Binned, LEAF, Node, Tree};
use crate::preprocess::Matrix;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForestParams {
    pub n_trees: usize,
    /// 0 = unlimited.
    pub max_depth: usize,
    pub max_bins: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub n_classes: usize,
    pub n_features: usize,
    pub trees: Vec<Tree>,
}

impl Forest {
    pub fn predict_proba_into(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let k = self.n_classes;
        for t in &self.trees {
            let off = t.leaf(x);
            for (o, v) in out.iter_mut().zip(&t.values[off..off + k]) {
                *o += v;
            }
        }
        let n = self.trees.len().max(1) as f64;
        for o in out.iter_mut() {
            *o /= n;
        }
    }

    pub fn is_valid(&self) -> bool {
        !self.trees.is_empty()
            && self
                .trees
                .iter()
                .all(|t| t.is_valid(self.n_features, self.n_classes))
    }

    pub fn fit(x: &Matrix, y: &[usize], w: &[f64], k: usize, p: &ForestParams) -> Forest {
        Self::fit_with_oob(x, y, w, k, p, 0).0
    }

    /// Fits and also returns, for each of the first `oob_rows` rows, the
    /// mean leaf distribution of the trees whose bootstrap left it out
    /// (out-of-bag probabilities; `None` if every tree drew it).
    pub fn fit_with_oob(
        x: &Matrix,
        y: &[usize],
        w: &[f64],
        k: usize,
        p: &ForestParams,
        oob_rows: usize,
    ) -> (Forest, Vec<Option<Vec<f64>>>) {
        let oob_rows = oob_rows.min(x.rows);
        let mut oob_sum = vec![0.0; oob_rows * k];
        let mut oob_n = vec![0usize; oob_rows];
        let binned = Binned::new(x, p.max_bins);
        let n = x.rows;
        let mtry = ((x.cols as f64).sqrt().round() as usize).clamp(1, x.cols.max(1));
        let mut trees = Vec::with_capacity(p.n_trees);
        for t in 0..p.n_trees {
            let mut rng = ChaCha8Rng::seed_from_u64(
                p.seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(t as u64),
            );
            let mut sw = vec![0.0; n];
            for _ in 0..n {
                sw[rng.random_range(0..n)] += 1.0;
            }
            for (s, wi) in sw.iter_mut().zip(w) {
                *s *= wi;
            }
            let mut oob: Vec<(u32, u32)> = (0..oob_rows)
                .filter(|&i| sw[i] == 0.0)
                .map(|i| (i as u32, 0))
                .collect();
            let tree = grow(&binned, y, &sw, k, mtry, p.max_depth, &mut rng, &mut oob);
            for &(i, off) in &oob {
                let (i, off) = (i as usize, off as usize);
                for (s, v) in oob_sum[i * k..(i + 1) * k]
                    .iter_mut()
                    .zip(&tree.values[off..off + k])
                {
                    *s += v;
                }
                oob_n[i] += 1;
            }
            trees.push(tree);
        }
        let oob = (0..oob_rows)
            .map(|i| {
                (oob_n[i] > 0).then(|| {
                    oob_sum[i * k..(i + 1) * k]
                        .iter()
                        .map(|s| s / oob_n[i] as f64)
                        .collect()
                })
            })
            .collect();
        (
            Forest {
                n_classes: k,
                n_features: x.cols,
                trees,
            },
            oob,
        )
    }
}

fn gini_impurity_sum(counts: &[f64]) -> (f64, f64) {
    let tot: f64 = counts.iter().sum();
    if tot <= 0.0 {
        return (0.0, 0.0);
    }
    let sq: f64 = counts.iter().map(|c| c * c).sum();
    // Weighted impurity: tot * (1 - Σp²) = tot - Σc²/tot.
    (tot - sq / tot, tot)
}

/// Interleaved histogram copies of the split search (see `grow`).
const LANES: usize = 4;

/// A bootstrap row as the tree builder moves it: its index, class and
/// weight side by side, so the histogram loop gathers only the bin.
#[derive(Clone, Copy)]
struct Row {
    i: u32,
    class: u32,
    w: f64,
}

/// Grows one tree on the rows with `sw > 0`. `oob` lists rows left out of
/// the bootstrap; they follow the splits as the tree grows (on their bins,
/// which send them where their values would) and get their leaf's payload
/// offset, cheaper than walking the finished tree for each.
#[allow(clippy::too_many_arguments)]
fn grow(
    b: &Binned,
    y: &[usize],
    sw: &[f64],
    k: usize,
    mtry: usize,
    max_depth: usize,
    rng: &mut ChaCha8Rng,
    oob: &mut [(u32, u32)],
) -> Tree {
    let mut rows: Vec<Row> = (0..b.rows)
        .filter(|&i| sw[i] > 0.0)
        .map(|i| Row {
            i: i as u32,
            class: y[i] as u32,
            w: sw[i],
        })
        .collect();
    let mut tree = Tree {
        nodes: vec![Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
        }],
        values: Vec::new(),
    };
    let mut counts = vec![0.0; k];
    for r in &rows {
        counts[r.class as usize] += r.w;
    }
    // Class sums of the pending nodes, in stack order (a node's sums are
    // the last `k` values when it is popped). They are summed while the
    // parent partitions its rows, in the order the rows keep, so they equal
    // a fresh sum over the node's rows.
    let mut pending_counts: Vec<f64> = counts.clone();
    let mut stack = vec![(0usize, 0usize, rows.len(), 0usize, 0usize, oob.len())];
    let mut oob_right: Vec<(u32, u32)> = Vec::new();
    // `LANES` histograms side by side: consecutive rows add to different
    // copies, so rows that share a bin (every row of a 0/1 feature shares
    // one of two) do not wait for each other's additions.
    let stride = 256 * k;
    let mut hist = vec![0.0; LANES * stride];
    let mut bin_h = vec![0.0; k];
    // Bit `b` of word `b / 64`: bin `b` holds some of the node's rows.
    let mut occupied = [0u64; 4];
    let mut feats: Vec<usize> = (0..b.cols).collect();
    let mut left_c = vec![0.0; k];
    let mut right_c = vec![0.0; k];
    let (mut l, mut r): (Vec<Row>, Vec<Row>) = (Vec::new(), Vec::new());
    while let Some((node, start, end, depth, ostart, oend)) = stack.pop() {
        let top = pending_counts.len() - k;
        counts.copy_from_slice(&pending_counts[top..]);
        pending_counts.truncate(top);
        let (imp, tot) = gini_impurity_sum(&counts);
        let mut best: Option<(usize, usize)> = None;
        let mut best_score = imp - 1e-12;
        if imp > 1e-12 && (max_depth == 0 || depth < max_depth) && end - start >= 2 {
            // Partial Fisher–Yates: the first `mtry` entries are the candidates.
            for a in 0..mtry {
                let j = rng.random_range(a..feats.len());
                feats.swap(a, j);
            }
            for &j in &feats[..mtry] {
                let nb = b.n_bins(j);
                if nb < 2 {
                    continue;
                }
                let col = b.column(j);
                // `hist` is all zeros between uses. Only the bins occupied
                // by this node's rows are visited (in order, through the
                // bit set), then cleared again: small deep nodes occupy few
                // of them, and an empty bin gives the same partition as the
                // previous threshold.
                let (mut lo, mut hi) = (u8::MAX, 0u8);
                let mut lanes = rows[start..end].chunks_exact(LANES);
                let mut add = |lane: usize, row: &Row| {
                    let bin = col[row.i as usize];
                    lo = lo.min(bin);
                    hi = hi.max(bin);
                    hist[lane * stride + bin as usize * k + row.class as usize] += row.w;
                    occupied[(bin >> 6) as usize] |= 1 << (bin & 63);
                };
                for chunk in &mut lanes {
                    for (lane, row) in chunk.iter().enumerate() {
                        add(lane, row);
                    }
                }
                for row in lanes.remainder() {
                    add(0, row);
                }
                let (lo, hi) = (lo as usize, hi as usize);
                left_c.fill(0.0);
                // Every occupied bin below the last one, ascending.
                let bins_below_hi = occupied.iter().enumerate().flat_map(|(w, &word)| {
                    let mut bits = word;
                    std::iter::from_fn(move || {
                        (bits != 0).then(|| {
                            let b = w * 64 + bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            b
                        })
                    })
                });
                for bin in bins_below_hi.take_while(|&b| b < hi) {
                    bin_h.copy_from_slice(&hist[bin * k..(bin + 1) * k]);
                    for lane in 1..LANES {
                        let at = lane * stride + bin * k;
                        for (h, v) in bin_h.iter_mut().zip(&hist[at..at + k]) {
                            *h += v;
                        }
                    }
                    for (l, v) in left_c.iter_mut().zip(&bin_h) {
                        *l += v;
                    }
                    let (li, lt) = gini_impurity_sum(&left_c);
                    if lt <= 0.0 || lt >= tot {
                        continue;
                    }
                    for ((r, a), b) in right_c.iter_mut().zip(&counts).zip(&left_c) {
                        *r = a - b;
                    }
                    let (ri, rt) = gini_impurity_sum(&right_c);
                    if rt <= 0.0 {
                        continue;
                    }
                    let score = li + ri;
                    if score < best_score {
                        best_score = score;
                        best = Some((j, bin));
                    }
                }
                for lane in 0..LANES {
                    hist[lane * stride + lo * k..lane * stride + (hi + 1) * k].fill(0.0);
                }
                occupied = [0; 4];
            }
        }
        match best {
            Some((j, bin)) => {
                let col = b.column(j);
                let slice = &mut rows[start..end];
                l.clear();
                r.clear();
                left_c.fill(0.0);
                right_c.fill(0.0);
                for row in slice.iter() {
                    if (col[row.i as usize] as usize) <= bin {
                        left_c[row.class as usize] += row.w;
                        l.push(*row)
                    } else {
                        right_c[row.class as usize] += row.w;
                        r.push(*row)
                    }
                }
                let mid = start + l.len();
                slice[..l.len()].copy_from_slice(&l);
                slice[l.len()..].copy_from_slice(&r);
                // Stable partition of the node's out-of-bag rows, the same way.
                let oslice = &mut oob[ostart..oend];
                oob_right.clear();
                let mut kept = 0;
                for o in 0..oslice.len() {
                    let entry = oslice[o];
                    if (col[entry.0 as usize] as usize) <= bin {
                        oslice[kept] = entry;
                        kept += 1;
                    } else {
                        oob_right.push(entry);
                    }
                }
                oslice[kept..].copy_from_slice(&oob_right);
                let omid = ostart + kept;
                let c = tree.split(node, j, b.thresholds[j][bin]);
                stack.push((c + 1, mid, end, depth + 1, omid, oend));
                pending_counts.extend_from_slice(&right_c);
                stack.push((c, start, mid, depth + 1, ostart, omid));
                pending_counts.extend_from_slice(&left_c);
            }
            None => {
                let off = tree.values.len();
                for &v in &counts {
                    tree.values
                        .push(if tot > 0.0 { v / tot } else { 1.0 / k as f64 });
                }
                tree.nodes[node] = Node {
                    feature: LEAF,
                    threshold: 0.0,
                    left: off as u32,
                    right: 0,
                };
                for entry in &mut oob[ostart..oend] {
                    entry.1 = off as u32;
                }
            }
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forest_fits_and_is_seeded() {
        let mut data = Vec::new();
        let mut y = Vec::new();
        for i in 0..120 {
            let c = i % 3;
            data.push(c as f64 + ((i * 13) % 7) as f64 * 0.05);
            data.push(((i * 5) % 9) as f64);
            y.push(c);
        }
        let x = Matrix {
            data,
            rows: 120,
            cols: 2,
        };
        let w = vec![1.0; 120];
        let p = ForestParams {
            n_trees: 20,
            max_depth: 0,
            max_bins: 64,
            seed: 7,
        };
        let a = Forest::fit(&x, &y, &w, 3, &p);
        let b = Forest::fit(&x, &y, &w, 3, &p);
        assert_eq!(a, b);
        assert!(a.is_valid());
        let mut out = vec![0.0; 3];
        let mut correct = 0;
        for (i, &yi) in y.iter().enumerate() {
            a.predict_proba_into(x.row(i), &mut out);
            assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            if (0..3).max_by(|&p, &q| out[p].total_cmp(&out[q])).unwrap() == yi {
                correct += 1;
            }
        }
        assert!(correct >= 115, "{correct}");
        let c = Forest::fit(&x, &y, &w, 3, &ForestParams { seed: 8, ..p });
        assert_ne!(a, c);
    }
}
