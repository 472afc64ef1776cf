"""Flask scoring server in the shape of the SageMaker scikit-learn container:
GET /ping, POST /invocations with text/csv rows, JSON predictions out."""
from flask import Flask, Response, request

from scoring import score

app = Flask(__name__)


@app.get("/ping")
def ping():
    return Response('{"status":"healthy"}', mimetype="application/json")


@app.post("/invocations")
def invocations():
    status, text = score(request.get_data(as_text=True))
    return Response(text, status=status, mimetype="application/json")
