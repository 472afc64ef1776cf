"""How the default's CV fit cost grows with rows and classes, against XGBoost
(hist, defaults, one thread) on the very same folds.

Cohorts are simulated here (numpy, seeded): `classes` conditions with
imbalanced shares (each class 0.85 times as common as the one before), 12
continuous measurements whose means shift by class, 4 binary flags whose rates
depend on class, 4 pure-noise columns, 3% of values missing. Two sweeps:
rows 2,500 / 10,000 / 40,000 (1x, 4x, 16x) at 15 classes, and classes
2 / 5 / 10 / 15 / 20 at 10,000 rows.

dxops: `dxops-model cv` with DXOPS_THREADS=1, CPU time (user + system) of the
whole process from the kernel's accounting of the child; XGBoost: process CPU
time around each `fit`, summed over the folds `cv --folds-out` wrote. One run
each (BENCH_REPEATS for more; the least is kept).

Usage: scaling.py BIN OUT_DIR    (run.sh calls it with the venv's python)
Prints one JSON line per cohort, then a Markdown table and PASS/FAIL lines.
"""
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from xgboost import XGBClassifier

REPEATS = int(os.environ.get("BENCH_REPEATS", "1"))
# Cost may grow at most this much faster than the data (timing noise on a
# shared machine; the figures themselves are printed).
SLACK = 1.25


def cohort(rows, classes, seed):
    rng = np.random.default_rng(seed)
    share = 0.85 ** np.arange(classes)
    y = rng.choice(classes, size=rows, p=share / share.sum())
    means = rng.normal(0.0, 0.6, size=(classes, 12))
    rates = rng.uniform(0.1, 0.9, size=(classes, 4))
    cont = rng.normal(0.0, 1.0, size=(rows, 12)) + means[y]
    flags = (rng.uniform(size=(rows, 4)) < rates[y]).astype(float)
    noise = rng.normal(0.0, 1.0, size=(rows, 4))
    X = np.hstack([cont, flags, noise])
    X[rng.uniform(size=X.shape) < 0.03] = np.nan
    df = pd.DataFrame(X, columns=[f"m{j}" for j in range(12)] + [f"f{j}" for j in range(4)]
                      + [f"n{j}" for j in range(4)])
    df["label"] = [f"c{c:02d}" for c in y]
    return df


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def dxops(binary, csv, folds):
    env = dict(os.environ, DXOPS_THREADS="1")
    cmd = [binary, "cv", "--data", csv, "--label", "label", "--folds", "5", "--seed", "42",
           "--folds-out", folds]
    best, out = None, None
    for _ in range(REPEATS):
        before = child_cpu()
        out = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)
        cpu = child_cpu() - before
        best = cpu if best is None else min(best, cpu)
    return best, out


def xgboost(df, folds):
    y = pd.factorize(df["label"], sort=True)[0]
    X = df.drop(columns=["label"]).values
    fold_of = np.loadtxt(folds, dtype=int)
    best = None
    for _ in range(REPEATS):
        cpu = 0.0
        for f in np.unique(fold_of):
            train = fold_of != f
            model = XGBClassifier(tree_method="hist", nthread=1, n_jobs=1, random_state=42)
            start = time.process_time()
            model.fit(X[train], y[train])
            cpu += time.process_time() - start
        best = cpu if best is None else min(best, cpu)
    return best


def main(binary, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    plan = [(2500, 15), (10000, 15), (40000, 15), (10000, 2), (10000, 5), (10000, 10), (10000, 20)]
    results = {}
    for rows, classes in plan:
        csv = os.path.join(out_dir, f"cohort_{rows}x{classes}.csv")
        folds = os.path.join(out_dir, f"folds_{rows}x{classes}.txt")
        df = cohort(rows, classes, seed=rows * 100 + classes)
        df.to_csv(csv, index=False)
        ours, metrics = dxops(binary, csv, folds)
        theirs = xgboost(df, folds)
        r = {"rows": rows, "classes": classes, "dxops_cpu_seconds": ours, "xgboost_cpu_seconds": theirs,
             "dxops_macro_f1": metrics["macro_f1"], "dxops_worst_class_recall": metrics["worst_class_recall"]}
        results[(rows, classes)] = r
        print(json.dumps(r), flush=True)

    print("\n| rows | classes | dxops CV fit CPU s | XGBoost CPU s | dxops / XGBoost | dxops macro-F1 |")
    print("|--:|--:|--:|--:|--:|--:|")
    for rows, classes in plan:
        r = results[(rows, classes)]
        print(f"| {rows} | {classes} | {r['dxops_cpu_seconds']:.2f} | {r['xgboost_cpu_seconds']:.2f} | "
              f"{r['dxops_cpu_seconds'] / r['xgboost_cpu_seconds']:.2f} | {r['dxops_macro_f1']:.3f} |")

    ok = True

    def check(name, passed):
        nonlocal ok
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {name}")

    ten = results[(10000, 15)]
    check(f"10,000 rows x 15 classes: dxops {ten['dxops_cpu_seconds']:.2f} s < XGBoost "
          f"{ten['xgboost_cpu_seconds']:.2f} s", ten["dxops_cpu_seconds"] < ten["xgboost_cpu_seconds"])
    base = results[(2500, 15)]["dxops_cpu_seconds"]
    for rows in (10000, 40000):
        growth = results[(rows, 15)]["dxops_cpu_seconds"] / base
        factor = rows / 2500
        check(f"rows x{factor:.0f}: cost x{growth:.2f} (linear: x{factor:.0f})", growth <= factor * SLACK)
    # Past the rows where early stopping reaches the ceiling of rounds.
    growth = results[(40000, 15)]["dxops_cpu_seconds"] / results[(10000, 15)]["dxops_cpu_seconds"]
    check(f"rows x4 -> x16: cost x{growth:.2f} (linear: x4)", growth <= 4 * SLACK)
    two = results[(10000, 2)]["dxops_cpu_seconds"]
    for classes in (5, 10, 15, 20):
        growth = results[(10000, classes)]["dxops_cpu_seconds"] / two
        factor = classes / 2
        check(f"classes 2 -> {classes}: cost x{growth:.2f} (linear: x{factor:.1f})", growth <= factor * SLACK)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(*sys.argv[1:])
