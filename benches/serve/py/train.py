"""Trains the scikit-learn counterpart of the dxops `auto` model (a soft-voting
ensemble of logistic regression, random forest and gradient boosting) on the
same data, for the side-by-side serving benchmark. Writes model.joblib."""
import sys

import joblib
import numpy as np
import csv
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data, label, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open(data, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
li = header.index(label)
features = [h for i, h in enumerate(header) if i != li]
y = np.array([r[li] for r in body])
X = np.array([[float(v) for i, v in enumerate(r) if i != li] for r in body])
model = VotingClassifier(
    [
        ("lr", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))),
        ("rf", RandomForestClassifier(n_estimators=200, class_weight="balanced", n_jobs=1, random_state=42)),
        ("gb", HistGradientBoostingClassifier(random_state=42)),
    ],
    voting="soft",
)
model.fit(X, y)
joblib.dump({"model": model, "features": features}, out)
print(f"trained on {len(y)} rows, {X.shape[1]} features")
