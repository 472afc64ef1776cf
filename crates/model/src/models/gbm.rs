//! Histogram gradient boosting for multi-class problems (softmax, one tree
//! per class and round), written for this project rather than wrapping a
//! crate: we need per-sample weights, a custom focal-loss objective,
//! continued boosting from an earlier model (warm start), byte-identical
//! results for a given seed and fast allocation-free prediction, and no
//! maintained pure-Rust crate offered all of these together at the time.
//!
//! Objectives:
//! * cross-entropy: gradient `w (p_k - y_k)`, hessian `w p_k (1 - p_k)`;
//! * focal loss `-(1 - p_t)^γ log p_t` (α-balanced through the sample
//!   weights): the exact gradient with respect to the logits, and the
//!   cross-entropy hessian scaled by the modulating factor `(1 - p_t)^γ`
//!   (a positive Gauss–Newton-style approximation that keeps Newton steps
//!   stable).
//!
//! Trees grow depth-wise on quantile histograms; the split gain is the usual
//! second-order gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) - G²/(H+λ)`, ties broken
//! by the first feature and bin, so training is deterministic. On more
//! training rows than `split_rows`, the splits are searched on a seeded
//! gradient-based sample of that many rows and the leaf values come from
//! every row ([`SplitSample`]), so a round's cost stops growing with the data.

use serde::{Deserialize, Serialize};

use super::tree::{Binned, LEAF, Node, Tree};
use crate::preprocess::Matrix;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GbmParams {
    pub n_rounds: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    pub min_child_weight: f64,
    pub l2: f64,
    pub max_bins: usize,
    /// `Some(γ)` selects the focal loss.
    pub focal_gamma: Option<f64>,
    /// Rows whose gradients choose each tree's splits when the training set
    /// is larger (0: always every row); see [`SplitSample`].
    pub split_rows: usize,
    /// Seeds the rows [`SplitSample`] draws.
    pub seed: u64,
}

/// Held-out rows whose weighted cross-entropy decides when boosting stops.
#[derive(Clone, Copy)]
pub struct EarlyStop<'a> {
    pub x: &'a Matrix,
    pub y: &'a [usize],
    pub w: &'a [f64],
    /// Rounds without improvement before boosting stops.
    pub patience: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbm {
    pub n_classes: usize,
    pub n_features: usize,
    /// Initial logits.
    pub base: Vec<f64>,
    /// Tree `t` adds to the logit of class `t % n_classes`; leaf values
    /// already include the learning rate.
    pub trees: Vec<Tree>,
}

/// Adds each tree's leaf value for `x` to its class's logit: the trees come
/// a round at a time, one per class (a chunk per round, not a division per
/// tree).
#[inline]
fn add_trees(trees: &[Tree], k: usize, x: &[f64], out: &mut [f64]) {
    for round in trees.chunks(k) {
        for (o, tree) in out.iter_mut().zip(round) {
            *o += tree.values[tree.leaf(x)];
        }
    }
}

pub fn softmax_in_place(z: &mut [f64]) {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    // One division per row, not per class.
    let inv = 1.0 / s;
    for v in z.iter_mut() {
        *v *= inv;
    }
}

impl Gbm {
    /// Raw logits for one row.
    #[inline]
    pub fn logits_into(&self, x: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.base);
        add_trees(&self.trees, self.n_classes, x, out);
    }

    pub fn predict_proba_into(&self, x: &[f64], out: &mut [f64]) {
        self.logits_into(x, out);
        softmax_in_place(out);
    }

    pub fn is_valid(&self) -> bool {
        self.base.len() == self.n_classes
            && self.trees.iter().all(|t| t.is_valid(self.n_features, 1))
    }

    /// Fits a model. `warm` continues boosting from an earlier model of the
    /// same design-matrix width and class count.
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        w: &[f64],
        k: usize,
        p: &GbmParams,
        warm: Option<&Gbm>,
    ) -> Gbm {
        Self::fit_early_stopped(x, y, w, k, p, warm, None).0
    }

    /// [`Gbm::fit`] with up to `p.n_rounds` rounds, stopped early on
    /// `stop`'s rows when given; also returns the rounds kept.
    pub fn fit_early_stopped(
        x: &Matrix,
        y: &[usize],
        w: &[f64],
        k: usize,
        p: &GbmParams,
        warm: Option<&Gbm>,
        stop: Option<EarlyStop<'_>>,
    ) -> (Gbm, usize) {
        let n = x.rows;
        let binned = Binned::new(x, p.max_bins);
        let (base, mut trees) = match warm {
            Some(g) => (g.base.clone(), g.trees.clone()),
            None => {
                let mut prior = vec![0.0; k];
                for (&c, &wi) in y.iter().zip(w) {
                    prior[c] += wi;
                }
                let tot: f64 = prior.iter().sum();
                let base = prior
                    .iter()
                    .map(|&c| ((c + 1e-3) / (tot + 1e-3 * k as f64)).ln())
                    .collect::<Vec<_>>();
                let mean = base.iter().sum::<f64>() / k as f64;
                (base.iter().map(|b| b - mean).collect(), Vec::new())
            }
        };
        let mut model = Gbm {
            n_classes: k,
            n_features: x.cols,
            base,
            trees: Vec::new(),
        };
        // Current logits and probabilities of every training row, class-major
        // (`f[c * n + i]`): each class's gradient and update pass then reads
        // memory in order instead of stepping over the other classes.
        let mut f = vec![0.0; n * k];
        let mut logits = vec![0.0; k];
        for i in 0..n {
            logits.copy_from_slice(&model.base);
            add_trees(&trees, k, x.row(i), &mut logits);
            for (c, &z) in logits.iter().enumerate() {
                f[c * n + i] = z;
            }
        }
        let mut prob = vec![0.0; n * k];
        let mut softmax = ColumnSoftmax::new(n);
        let mut g = vec![0.0; n];
        let mut h = vec![0.0; n];
        let mut builder = Builder::new(&binned, p);
        let all_rows: Vec<usize> = (0..n).collect();
        let mut sample = SplitSample::new(n, p.split_rows);
        let source_trees = trees.len();
        // Held-out logits, their best loss so far and the round it was reached.
        let mut held_out = stop.map(|s| {
            let mut z = vec![0.0; s.x.rows * k];
            for (i, out) in z.chunks_mut(k).enumerate() {
                out.copy_from_slice(&model.base);
                add_trees(&trees, k, s.x.row(i), out);
            }
            let loss = cross_entropy(&z, s.y, s.w, k);
            (s, z, loss, 0usize)
        });
        let mut kept = p.n_rounds;
        // Leaf of every training row in the round's first tree (reused by
        // the mirrored second tree of a two-class problem).
        let mut first_leaves: Vec<usize> = Vec::new();
        for round in 0..p.n_rounds {
            softmax.apply(&f, &mut prob);
            for c in 0..k {
                if k == 2 && c == 1 {
                    // Two classes: the second class's gradients are the
                    // negated first's with equal hessians, so its tree is
                    // the mirror image of the first; reuse it.
                    let mut mirror = trees[trees.len() - 1].clone();
                    for v in &mut mirror.values {
                        *v = -*v;
                    }
                    for (fi, &leaf) in f[n..].iter_mut().zip(&first_leaves) {
                        *fi += mirror.values[leaf];
                    }
                    trees.push(mirror);
                    continue;
                }
                let pc = &prob[c * n..(c + 1) * n];
                for i in 0..n {
                    let pk = pc[i].clamp(1e-12, 1.0);
                    let yk = if y[i] == c { 1.0 } else { 0.0 };
                    match p.focal_gamma {
                        None => {
                            g[i] = w[i] * (pk - yk);
                            h[i] = w[i] * (pk * (1.0 - pk)).max(1e-12);
                        }
                        Some(gamma) => {
                            let pt = prob[y[i] * n + i].clamp(1e-12, 1.0 - 1e-12);
                            let one = 1.0 - pt;
                            let d_dpt =
                                gamma * one.powf(gamma - 1.0) * pt.ln() - one.powf(gamma) / pt;
                            let dpt_dz = pt * (yk - pk);
                            g[i] = w[i] * d_dpt * dpt_dz;
                            h[i] = w[i] * (one.powf(gamma) * pk * (1.0 - pk)).max(1e-12);
                        }
                    }
                }
                let tree_seed = p.seed ^ ((trees.len() as u64) << 32);
                let (tree, leaf_of_row) = match sample.draw(&g, &h, tree_seed) {
                    None => builder.build(&all_rows, &g, &h),
                    Some((rows, gs, hs)) => {
                        let (mut tree, _) = builder.build(rows, gs, hs);
                        let leaf_of_row = exact_leaf_values(&mut tree, &binned, &g, &h, p);
                        (tree, leaf_of_row)
                    }
                };
                for (fi, &leaf) in f[c * n..(c + 1) * n].iter_mut().zip(&leaf_of_row) {
                    *fi += tree.values[leaf];
                }
                trees.push(tree);
                first_leaves = leaf_of_row;
            }
            if let Some((s, z, best, best_round)) = held_out.as_mut() {
                let new = &trees[trees.len() - k..];
                for (i, out) in z.chunks_mut(k).enumerate() {
                    for (o, tree) in out.iter_mut().zip(new) {
                        *o += tree.values[tree.leaf(s.x.row(i))];
                    }
                }
                let loss = cross_entropy(z, s.y, s.w, k);
                if loss < *best {
                    (*best, *best_round) = (loss, round + 1);
                } else if round + 1 - *best_round >= s.patience {
                    break;
                }
            }
        }
        if let Some((_, _, _, best_round)) = held_out {
            kept = best_round;
            trees.truncate(source_trees + best_round * k);
        }
        model.trees = trees;
        (model, kept)
    }
}

/// [`softmax_in_place`] over class-major logits, a class at a time: the same
/// operations in the same order for every row, so the probabilities are
/// identical bit for bit to the row-at-a-time form.
struct ColumnSoftmax {
    max: Vec<f64>,
    sum: Vec<f64>,
}

impl ColumnSoftmax {
    fn new(n: usize) -> Self {
        ColumnSoftmax {
            max: vec![0.0; n],
            sum: vec![0.0; n],
        }
    }

    fn apply(&mut self, f: &[f64], prob: &mut [f64]) {
        let n = self.max.len();
        if n == 0 {
            return;
        }
        self.max.fill(f64::NEG_INFINITY);
        self.sum.fill(0.0);
        for fc in f.chunks_exact(n) {
            for (m, &z) in self.max.iter_mut().zip(fc) {
                *m = m.max(z);
            }
        }
        for (fc, pc) in f.chunks_exact(n).zip(prob.chunks_exact_mut(n)) {
            for (((p, &z), &m), s) in pc.iter_mut().zip(fc).zip(&self.max).zip(&mut self.sum) {
                *p = (z - m).exp();
                *s += *p;
            }
        }
        // `sum` now becomes each row's inverse: one division per row, as in
        // the row form.
        for s in &mut self.sum {
            *s = 1.0 / *s;
        }
        for pc in prob.chunks_exact_mut(n) {
            for (p, &inv) in pc.iter_mut().zip(&self.sum) {
                *p *= inv;
            }
        }
    }
}

/// Weighted mean cross-entropy of row-major logits `z` against `y`.
fn cross_entropy(z: &[f64], y: &[usize], w: &[f64], k: usize) -> f64 {
    let mut p = vec![0.0; k];
    let (mut loss, mut total) = (0.0, 0.0);
    for ((zi, &yi), &wi) in z.chunks(k).zip(y).zip(w) {
        p.copy_from_slice(zi);
        softmax_in_place(&mut p);
        loss -= wi * p[yi].max(1e-15).ln();
        total += wi;
    }
    if total > 0.0 { loss / total } else { 0.0 }
}

/// Gradient-based one-side sampling with a fixed budget (after LightGBM's
/// GOSS): on a training set larger than `budget` rows, each tree's splits are
/// searched on the half of the budget with the largest gradients plus the
/// other half drawn at random from the rest, whose gradients and hessians
/// count `(n - top) / drawn` times so the histograms stay unbiased; the
/// leaf values are then computed from every row. Rows a class's tree already
/// fits well carry almost no gradient (a rare class's tree is driven by its
/// own few hundred rows), so the split search keeps what it needs, and the
/// cost of a round grows with the budget instead of the rows: early stopping
/// keeps more rounds on more data, which otherwise made the fit grow faster
/// than the data. Sets of `budget` rows or fewer are fitted exactly.
struct SplitSample {
    budget: usize,
    /// Scratch: every row's |g|, reordered by the selection.
    magnitude: Vec<f64>,
    /// What each row is in the current draw.
    role: Vec<Role>,
    rest: Vec<usize>,
    rows: Vec<usize>,
    g: Vec<f64>,
    h: Vec<f64>,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Top,
    Drawn,
    Skipped,
}

impl SplitSample {
    fn new(n: usize, budget: usize) -> Self {
        let active = budget >= 2 && n > budget;
        let sized = |len: usize| if active { len } else { 0 };
        SplitSample {
            budget,
            magnitude: Vec::with_capacity(sized(n)),
            role: vec![Role::Skipped; sized(n)],
            rest: Vec::with_capacity(sized(n)),
            rows: Vec::with_capacity(sized(budget)),
            g: vec![0.0; sized(n)],
            h: vec![0.0; sized(n)],
        }
    }

    /// The rows (ascending) and their weighted gradients and hessians for one
    /// tree, or `None` when every row is used. Linear in the rows.
    fn draw(&mut self, g: &[f64], h: &[f64], seed: u64) -> Option<(&[usize], &[f64], &[f64])> {
        use rand::{Rng, SeedableRng};
        if self.role.is_empty() {
            return None;
        }
        let top = self.budget / 2;
        let drawn = self.budget - top;
        // The `top`-th largest |g|; rows above it are taken, and rows equal to
        // it in row order until `top` are, so the set is the same however the
        // selection visits rows.
        self.magnitude.clear();
        self.magnitude.extend(g.iter().map(|v| v.abs()));
        let (_, &mut cut, _) = self
            .magnitude
            .select_nth_unstable_by(top - 1, |a, b| b.total_cmp(a));
        // Only the first `top` can exceed the cut after the selection.
        let mut ties = top - self.magnitude[..top].iter().filter(|&&m| m > cut).count();
        self.rest.clear();
        for (i, (role, v)) in self.role.iter_mut().zip(g).enumerate() {
            let m = v.abs();
            *role = if m > cut || (m == cut && ties > 0) {
                if m == cut {
                    ties -= 1;
                }
                Role::Top
            } else {
                self.rest.push(i);
                Role::Skipped
            };
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for j in 0..drawn {
            let pick = rng.random_range(j..self.rest.len());
            self.rest.swap(j, pick);
            self.role[self.rest[j]] = Role::Drawn;
        }
        let amplify = self.rest.len() as f64 / drawn as f64;
        self.rows.clear();
        for (i, role) in self.role.iter().enumerate() {
            let factor = match role {
                Role::Top => 1.0,
                Role::Drawn => amplify,
                Role::Skipped => continue,
            };
            self.rows.push(i);
            self.g[i] = g[i] * factor;
            self.h[i] = h[i] * factor;
        }
        Some((&self.rows, &self.g, &self.h))
    }
}

/// The Newton step of a leaf's rows, shrunk by the learning rate.
fn leaf_value(gs: f64, hs: f64, p: &GbmParams) -> f64 {
    -gs / (hs + p.l2) * p.learning_rate
}

/// Stable partition of `rows` by `col[i] <= bin`: left rows first, order
/// kept; returns how many went left. Branch-free: each row is written to
/// both sides and only one side's cursor moves (which side is a coin flip
/// per row, so a branch would be mispredicted half the time).
fn partition(rows: &mut [usize], col: &[u8], bin: usize, right: &mut [usize]) -> usize {
    let (mut n_left, mut n_right) = (0, 0);
    for r in 0..rows.len() {
        let i = rows[r];
        let goes_left = (col[i] as usize) <= bin;
        rows[n_left] = i;
        right[n_right] = i;
        n_left += usize::from(goes_left);
        n_right += usize::from(!goes_left);
    }
    rows[n_left..].copy_from_slice(&right[..n_right]);
    n_left
}

/// Sets `tree`'s leaf values from every training row's gradients (its splits
/// came from a sample) and returns each row's leaf payload offset. Rows are
/// routed a column at a time, as the builder partitions them.
fn exact_leaf_values(
    tree: &mut Tree,
    binned: &Binned,
    g: &[f64],
    h: &[f64],
    p: &GbmParams,
) -> Vec<usize> {
    let n = binned.rows;
    let mut leaf_of_row = vec![0usize; n];
    let mut idx: Vec<usize> = (0..n).collect();
    let mut right = vec![0usize; n];
    let mut stack = vec![(0usize, 0usize, n)];
    while let Some((node, start, end)) = stack.pop() {
        let nd = tree.nodes[node];
        if nd.feature == LEAF {
            for &i in &idx[start..end] {
                leaf_of_row[i] = nd.left as usize;
            }
            continue;
        }
        let feature = nd.feature as usize;
        // The split's threshold is one of the feature's bin edges.
        let bin = binned.thresholds[feature].partition_point(|&t| t < nd.threshold);
        let mid = start
            + partition(
                &mut idx[start..end],
                binned.column(feature),
                bin,
                &mut right,
            );
        stack.push((nd.right as usize, mid, end));
        stack.push((nd.left as usize, start, mid));
    }
    let mut sums = vec![(0.0, 0.0); tree.values.len()];
    for (i, &leaf) in leaf_of_row.iter().enumerate() {
        sums[leaf].0 += g[i];
        sums[leaf].1 += h[i];
    }
    for (v, (gs, hs)) in tree.values.iter_mut().zip(sums) {
        *v = leaf_value(gs, hs, p);
    }
    leaf_of_row
}

struct Builder<'a> {
    binned: &'a Binned,
    p: &'a GbmParams,
    /// Start of each feature's bins in a node histogram.
    offsets: Vec<usize>,
    total_bins: usize,
}

struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    /// Gradient and hessian sums of the node's rows.
    sums: (f64, f64),
    /// Gradient/hessian histogram of the node's rows (absent for nodes at
    /// maximum depth, which always become leaves).
    hist: Option<Vec<[f64; 2]>>,
}

impl<'a> Builder<'a> {
    fn new(binned: &'a Binned, p: &'a GbmParams) -> Self {
        let mut offsets = Vec::with_capacity(binned.cols);
        let mut total_bins = 0;
        for j in 0..binned.cols {
            offsets.push(total_bins);
            total_bins += binned.n_bins(j);
        }
        Builder {
            binned,
            p,
            offsets,
            total_bins,
        }
    }

    /// Row-wise accumulation: each row's gradient pair is loaded once and
    /// added to every feature's histogram.
    fn histogram(&self, rows: &[usize], g: &[f64], h: &[f64]) -> Vec<[f64; 2]> {
        let mut hist = vec![[0.0; 2]; self.total_bins];
        for &i in rows {
            let (gi, hi) = (g[i], h[i]);
            for ((&b, &off), _) in self
                .binned
                .row(i)
                .iter()
                .zip(&self.offsets)
                .zip(0..self.binned.cols)
            {
                let e = &mut hist[off + b as usize];
                e[0] += gi;
                e[1] += hi;
            }
        }
        hist
    }

    /// Builds one tree on `rows` (ascending); also returns each training
    /// row's leaf payload offset (for the rows given). Children's histograms
    /// come from scanning the smaller child and subtracting it from the
    /// parent's.
    fn build(&mut self, rows: &[usize], g: &[f64], h: &[f64]) -> (Tree, Vec<usize>) {
        let n = rows.len();
        let mut idx: Vec<usize> = rows.to_vec();
        let mut leaf_of_row = vec![0usize; self.binned.rows];
        let mut tree = Tree {
            nodes: vec![Node {
                feature: LEAF,
                threshold: 0.0,
                left: 0,
                right: 0,
            }],
            values: Vec::new(),
        };
        let root_hist = (self.p.max_depth > 0).then(|| self.histogram(&idx, g, h));
        let root_sums = idx
            .iter()
            .fold((0.0, 0.0), |(a, b), &i| (a + g[i], b + h[i]));
        let mut stack = vec![Pending {
            node: 0,
            start: 0,
            end: n,
            depth: 0,
            sums: root_sums,
            hist: root_hist,
        }];
        let mut right = vec![0usize; n];
        while let Some(pd) = stack.pop() {
            let (gs, hs) = pd.sums;
            let split = match &pd.hist {
                Some(hist) => self.best_split(hist, gs, hs),
                None => None,
            };
            match (split, pd.hist) {
                (Some((feat, bin)), Some(parent_hist)) => {
                    let slice = &mut idx[pd.start..pd.end];
                    let n_left = partition(slice, self.binned.column(feat), bin, &mut right);
                    let (mut gl, mut hl) = (0.0, 0.0);
                    for &i in &slice[..n_left] {
                        gl += g[i];
                        hl += h[i];
                    }
                    let (gr, hr) = (gs - gl, hs - hl);
                    let mid = pd.start + n_left;
                    let l = tree.split(pd.node, feat, self.binned.thresholds[feat][bin]);
                    let depth = pd.depth + 1;
                    let (lh, rh) = if depth < self.p.max_depth {
                        let left_small = mid - pd.start <= pd.end - mid;
                        let small = if left_small {
                            &idx[pd.start..mid]
                        } else {
                            &idx[mid..pd.end]
                        };
                        let small_hist = self.histogram(small, g, h);
                        let mut large_hist = parent_hist;
                        for (a, b) in large_hist.iter_mut().zip(&small_hist) {
                            a[0] -= b[0];
                            a[1] -= b[1];
                        }
                        if left_small {
                            (Some(small_hist), Some(large_hist))
                        } else {
                            (Some(large_hist), Some(small_hist))
                        }
                    } else {
                        (None, None)
                    };
                    stack.push(Pending {
                        node: l + 1,
                        start: mid,
                        end: pd.end,
                        depth,
                        sums: (gr, hr),
                        hist: rh,
                    });
                    stack.push(Pending {
                        node: l,
                        start: pd.start,
                        end: mid,
                        depth,
                        sums: (gl, hl),
                        hist: lh,
                    });
                }
                _ => {
                    let off = tree.values.len();
                    tree.values.push(leaf_value(gs, hs, self.p));
                    tree.nodes[pd.node] = Node {
                        feature: LEAF,
                        threshold: 0.0,
                        left: off as u32,
                        right: 0,
                    };
                    for &i in &idx[pd.start..pd.end] {
                        leaf_of_row[i] = off;
                    }
                }
            }
        }
        (tree, leaf_of_row)
    }

    fn best_split(&self, hist: &[[f64; 2]], gs: f64, hs: f64) -> Option<(usize, usize)> {
        let lambda = self.p.l2;
        let parent = gs * gs / (hs + lambda);
        let mut best: Option<(usize, usize)> = None;
        let mut best_gain = 1e-9;
        for j in 0..self.binned.cols {
            let nb = self.binned.n_bins(j);
            if nb < 2 {
                continue;
            }
            let hj = &hist[self.offsets[j]..self.offsets[j] + nb];
            let (mut gl, mut hl) = (0.0, 0.0);
            for (b, e) in hj.iter().enumerate().take(nb - 1) {
                if e[1] == 0.0 {
                    // Empty bin: same partition as the previous threshold.
                    continue;
                }
                gl += e[0];
                hl += e[1];
                let (gr, hr) = (gs - gl, hs - hl);
                if hl < self.p.min_child_weight
                    || hr < self.p.min_child_weight
                    || hl <= 1e-12
                    || hr <= 1e-12
                {
                    continue;
                }
                let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent;
                if gain > best_gain {
                    best_gain = gain;
                    best = Some((j, b));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xor_data() -> (Matrix, Vec<usize>) {
        let mut data = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let a = (i % 2) as f64;
            let b = ((i / 2) % 2) as f64;
            data.push(a + 0.01 * (i % 7) as f64);
            data.push(b - 0.01 * (i % 5) as f64);
            y.push((a as usize) ^ (b as usize));
        }
        (
            Matrix {
                data,
                rows: 200,
                cols: 2,
            },
            y,
        )
    }

    fn params(focal: Option<f64>) -> GbmParams {
        GbmParams {
            n_rounds: 30,
            learning_rate: 0.3,
            max_depth: 2,
            min_child_weight: 1.0,
            l2: 1.0,
            max_bins: 32,
            focal_gamma: focal,
            split_rows: 0,
            seed: 7,
        }
    }

    #[test]
    fn column_softmax_matches_the_row_form_bit_for_bit() {
        let (n, k) = (7, 4);
        let rows: Vec<f64> = (0..n * k)
            .map(|j| ((j * 37 % 11) as f64 - 5.0) * 0.731 + if j == 9 { 800.0 } else { 0.0 })
            .collect();
        let mut columns = vec![0.0; n * k];
        for i in 0..n {
            for c in 0..k {
                columns[c * n + i] = rows[i * k + c];
            }
        }
        let mut prob = vec![0.0; n * k];
        ColumnSoftmax::new(n).apply(&columns, &mut prob);
        for i in 0..n {
            let mut expected = rows[i * k..(i + 1) * k].to_vec();
            softmax_in_place(&mut expected);
            for c in 0..k {
                assert_eq!(
                    prob[c * n + i].to_bits(),
                    expected[c].to_bits(),
                    "row {i} class {c}"
                );
            }
        }
    }

    #[test]
    fn learns_xor_with_both_objectives() {
        let (x, y) = xor_data();
        let w = vec![1.0; y.len()];
        for focal in [None, Some(2.0)] {
            let m = Gbm::fit(&x, &y, &w, 2, &params(focal), None);
            assert!(m.is_valid());
            let mut p = vec![0.0; 2];
            let mut correct = 0;
            for (i, &yi) in y.iter().enumerate() {
                m.predict_proba_into(x.row(i), &mut p);
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                if (p[1] > 0.5) == (yi == 1) {
                    correct += 1;
                }
            }
            assert_eq!(correct, 200, "focal={focal:?}");
        }
    }

    #[test]
    fn a_split_sample_keeps_the_largest_gradients_and_weighs_the_rest() {
        let g: Vec<f64> = (0..100)
            .map(|i| if i % 10 == 3 { 5.0 } else { 0.01 * i as f64 })
            .collect();
        let h = vec![1.0; 100];
        let mut sample = SplitSample::new(100, 20);
        let (rows, gs, hs) = sample
            .draw(&g, &h, 1)
            .expect("100 rows exceed a budget of 20");
        let rows = rows.to_vec();
        assert_eq!(rows.len(), 20);
        assert!(
            rows.windows(2).all(|w| w[0] < w[1]),
            "ascending, no repeats"
        );
        // The ten rows of gradient 5 are the largest; they count once.
        for i in (3..100).step_by(10) {
            assert!(rows.contains(&i));
            assert_eq!((gs[i], hs[i]), (5.0, 1.0));
        }
        // The other ten stand for the 90 rows left: the hessian total is kept.
        let total: f64 = rows.iter().map(|&i| hs[i]).sum();
        assert!((total - 100.0).abs() < 1e-9, "{total}");
        let again = SplitSample::new(100, 20)
            .draw(&g, &h, 1)
            .unwrap()
            .0
            .to_vec();
        assert_eq!(rows, again, "the same seed draws the same rows");
        let other = SplitSample::new(100, 20)
            .draw(&g, &h, 2)
            .unwrap()
            .0
            .to_vec();
        assert_ne!(rows, other, "another tree draws other rows");
        assert!(SplitSample::new(100, 100).draw(&g, &h, 1).is_none());
        assert!(SplitSample::new(100, 0).draw(&g, &h, 1).is_none());
    }

    #[test]
    fn sampled_splits_still_learn_and_leaves_use_every_row() {
        let (x, y) = xor_data();
        let w = vec![1.0; y.len()];
        let exact = Gbm::fit(&x, &y, &w, 2, &params(None), None);
        let mut p = params(None);
        p.split_rows = y.len();
        assert_eq!(
            Gbm::fit(&x, &y, &w, 2, &p, None),
            exact,
            "a budget of n is exact"
        );
        p.split_rows = 60;
        let sampled = Gbm::fit(&x, &y, &w, 2, &p, None);
        assert_ne!(sampled, exact, "60 of 200 rows choose the splits");
        assert_eq!(Gbm::fit(&x, &y, &w, 2, &p, None), sampled, "deterministic");
        let mut prob = vec![0.0; 2];
        let correct = (0..y.len())
            .filter(|&i| {
                sampled.predict_proba_into(x.row(i), &mut prob);
                (prob[1] > 0.5) == (y[i] == 1)
            })
            .count();
        assert_eq!(correct, 200);
        // Every leaf value is the Newton step of all the rows that reach it.
        let first = &sampled.trees[0];
        let mut sums = vec![(0.0, 0.0); first.values.len()];
        let base = 0.5;
        for (i, &yi) in y.iter().enumerate() {
            let yk = if yi == 0 { 1.0 } else { 0.0 };
            let leaf = first.leaf(x.row(i));
            sums[leaf].0 += base - yk;
            sums[leaf].1 += base * (1.0 - base);
        }
        for (v, (gs, hs)) in first.values.iter().zip(sums) {
            assert!((v - (-gs / (hs + p.l2) * p.learning_rate)).abs() < 1e-9);
        }
    }

    #[test]
    fn warm_start_keeps_source_trees_and_adds_more() {
        let (x, y) = xor_data();
        let w = vec![1.0; y.len()];
        let a = Gbm::fit(&x, &y, &w, 2, &params(None), None);
        let b = Gbm::fit(&x, &y, &w, 2, &params(None), Some(&a));
        assert_eq!(b.trees.len(), 2 * a.trees.len());
        assert_eq!(&b.trees[..a.trees.len()], &a.trees[..]);
    }
}
