"""Python baselines for the dxops-model benchmark.

Same protocol as `dxops-model cv`, on the very folds it used (read from the
file `dxops-model cv --folds-out` wrote: one fold index per data row):
metrics on pooled out-of-fold predictions, decision = argmax of predicted
probabilities. Single thread for every model; fit wall and CPU time summed
over the folds. Prints one JSON line per (data set, model).

Usage: baselines.py DATA.csv:FOLDS.txt ...
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline as imb_pipeline
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from xgboost import XGBClassifier


# CV runs per model; the reported fit time is the fastest (least disturbed
# by other load on the machine). Metrics are the same in every run.
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def linear_prep():
    return [SimpleImputer(strategy="median", add_indicator=True), StandardScaler()]


def models(n_classes):
    return {
        "sklearn LogisticRegression balanced": (
            lambda: make_pipeline(*linear_prep(), LogisticRegression(class_weight="balanced", max_iter=5000)),
            False,
        ),
        "sklearn RandomForest 300 balanced": (
            lambda: make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True),
                RandomForestClassifier(n_estimators=300, class_weight="balanced", n_jobs=1, random_state=42),
            ),
            False,
        ),
        "XGBoost hist": (lambda: XGBClassifier(tree_method="hist", nthread=1, n_jobs=1, random_state=42), False),
        "XGBoost hist balanced weights": (
            lambda: XGBClassifier(tree_method="hist", nthread=1, n_jobs=1, random_state=42),
            True,
        ),
        "LightGBM": (lambda: LGBMClassifier(n_jobs=1, random_state=42, verbose=-1), False),
        "LightGBM balanced": (
            lambda: LGBMClassifier(n_jobs=1, random_state=42, verbose=-1, class_weight="balanced"),
            False,
        ),
        "SMOTE + LogisticRegression": (
            lambda: imb_pipeline(*linear_prep(), SMOTE(random_state=42), LogisticRegression(max_iter=5000)),
            False,
        ),
    }


def evaluate(y, proba):
    pred = proba.argmax(axis=1)
    k = proba.shape[1]
    if k == 2:
        auc = roc_auc_score(y, proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    recalls = recall_score(y, pred, average=None, labels=list(range(k)), zero_division=0)
    # Brier's own multi-class score: mean over rows of the squared distance
    # between the probability vector and the one-hot truth (0 best, 2 worst).
    brier = float(((proba - np.eye(k)[y]) ** 2).sum(axis=1).mean())
    return {
        "accuracy": accuracy_score(y, pred),
        "macro_f1": f1_score(y, pred, average="macro"),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "roc_auc": auc,
        "worst_class_recall": float(recalls.min()),
        "brier": brier,
    }


def main(args):
    for arg in args:
        path, fold_path = arg.split(":")
        df = pd.read_csv(path)
        y = LabelEncoder().fit_transform(df["label"].astype(str).values)
        X = df.drop(columns=["label"]).values.astype(float)
        k = len(np.unique(y))
        fold_of = np.loadtxt(fold_path, dtype=int)
        assert len(fold_of) == len(y), f"{fold_path}: one fold index per row of {path}"
        folds = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in np.unique(fold_of)]
        for name, (make, weighted) in models(k).items():
            walls, cpus = [], []
            for _ in range(REPEATS):
                proba = np.zeros((len(y), k))
                wall = cpu = 0.0
                for train, test in folds:
                    model = make()
                    start, start_cpu = time.perf_counter(), time.process_time()
                    if weighted:
                        model.fit(X[train], y[train], sample_weight=compute_sample_weight("balanced", y[train]))
                    else:
                        model.fit(X[train], y[train])
                    wall += time.perf_counter() - start
                    cpu += time.process_time() - start_cpu
                    proba[test] = model.predict_proba(X[test])
                walls.append(wall)
                cpus.append(cpu)
            row = {
                "data": path.split("/")[-1],
                "model": name,
                **evaluate(y, proba),
                "fit_seconds": min(walls),
                "cpu_seconds": min(cpus),
                "threads": 1,
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
