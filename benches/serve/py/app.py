"""Flask scoring server in the shape of the SageMaker scikit-learn container:
GET /ping, POST /invocations with text/csv rows, JSON predictions out."""
import io
import os

import joblib
import numpy as np
from flask import Flask, Response, request

bundle = joblib.load(os.environ["MODEL_PATH"])
model = bundle["model"]
width = len(bundle["features"])
classes = [str(c) for c in model.classes_]
app = Flask(__name__)


@app.get("/ping")
def ping():
    return Response('{"status":"healthy"}', mimetype="application/json")


@app.post("/invocations")
def invocations():
    try:
        X = np.loadtxt(io.StringIO(request.get_data(as_text=True)), delimiter=",", ndmin=2)
    except ValueError:
        return Response('{"error":"malformed CSV"}', status=400, mimetype="application/json")
    if X.shape[1] != width or not np.isfinite(X).all():
        return Response('{"error":"bad row"}', status=400, mimetype="application/json")
    proba = model.predict_proba(X)
    preds = [
        {"predicted_label": classes[int(np.argmax(p))], "probabilities": dict(zip(classes, map(float, p)))}
        for p in proba
    ]
    import json

    return Response(json.dumps({"predictions": preds}), mimetype="application/json")
