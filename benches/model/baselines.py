"""Python baselines for the dxops-model benchmark.

Same protocol as `dxops-model cv`: stratified 5-fold CV (shuffle, seed 42),
metrics on pooled out-of-fold predictions, decision = argmax of predicted
probabilities. Single thread for every model. Prints one JSON line per
(data set, model).
"""
import json
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
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from xgboost import XGBClassifier


# CV runs per model; the reported fit time is the fastest (least disturbed
# by other load on the machine). Metrics are the same in every run.
REPEATS = 3


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
    return {
        "accuracy": accuracy_score(y, pred),
        "macro_f1": f1_score(y, pred, average="macro"),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "roc_auc": auc,
        "worst_class_recall": float(recalls.min()),
    }


def main(paths):
    for path in paths:
        df = pd.read_csv(path)
        y = LabelEncoder().fit_transform(df["label"].values)
        X = df.drop(columns=["label"]).values.astype(float)
        k = len(np.unique(y))
        folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=42).split(X, y))
        for name, (make, weighted) in models(k).items():
            times = []
            for _ in range(REPEATS):
                proba = np.zeros((len(y), k))
                fit_seconds = 0.0
                for train, test in folds:
                    model = make()
                    start = time.perf_counter()
                    if weighted:
                        model.fit(X[train], y[train], sample_weight=compute_sample_weight("balanced", y[train]))
                    else:
                        model.fit(X[train], y[train])
                    fit_seconds += time.perf_counter() - start
                    proba[test] = model.predict_proba(X[test])
                times.append(fit_seconds)
            fit_seconds = min(times)
            row = {"data": path.split("/")[-1], "model": name, **evaluate(y, proba), "fit_seconds": fit_seconds, "threads": 1}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
