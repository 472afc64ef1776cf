"""The scikit-learn model of scoring.py as a Python Lambda handler (run by
awslambdaric, the runtime interface client of AWS's Python images): API
Gateway proxy events with text/csv rows in, the same JSON predictions out."""
from scoring import score


def handler(event, context):
    status, text = score(event.get("body") or "")
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": text, "isBase64Encoded": False}
