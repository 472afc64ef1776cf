"""The scikit-learn model that both Python front doors serve (app.py over
HTTP, lambda_app.py on Lambda): MODEL_PATH loaded once, CSV rows scored into
the same JSON predictions as dxops-model."""
import io
import json
import os

import joblib
import numpy as np

bundle = joblib.load(os.environ["MODEL_PATH"])
model = bundle["model"]
width = len(bundle["features"])
classes = [str(c) for c in model.classes_]


def score(text):
    """(status, JSON text) for CSV rows."""
    try:
        X = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    except ValueError:
        return 400, '{"error":"malformed CSV"}'
    if X.shape[1] != width or not np.isfinite(X).all():
        return 400, '{"error":"bad row"}'
    proba = model.predict_proba(X)
    preds = [
        {"predicted_label": classes[int(np.argmax(p))], "probabilities": dict(zip(classes, map(float, p)))}
        for p in proba
    ]
    return 200, json.dumps({"predictions": preds})
