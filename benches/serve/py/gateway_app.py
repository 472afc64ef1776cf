"""The Python peer of dxops-gateway for the benchmark: the Lambda a team
would write with boto3. It reads the JSON instances, refuses fields that are
neither features nor identifiers and values outside the contract's ranges,
drops the identifiers, calls InvokeEndpoint with CSV rows and answers with
the endpoint's predictions and the inference id. The client is made at
import (Lambda's init phase), as AWS's guidance advises."""
import json
import os

import boto3

contract = json.load(open(os.environ["CONTRACT"]))
features = [f["name"] for f in contract["features"]]
bounds = {f["name"]: (f.get("min"), f.get("max")) for f in contract["features"]}
identifiers = set(contract["identifiers"])
endpoint = os.environ["DXOPS_ENDPOINT_NAME"]
client = boto3.client("sagemaker-runtime")


def answer(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    body = json.loads(event["body"])
    instances = body["instances"] if isinstance(body, dict) else body
    lines = []
    for row, instance in enumerate(instances, 1):
        for position, key in enumerate(instance, 1):
            if key not in bounds and key not in identifiers:
                return answer(400, {"error": f"row {row}: key number {position} is not a feature of the model"})
        cells = []
        for name in features:
            value = instance.get(name)
            if value is None:
                cells.append("")
                continue
            low, high = bounds[name]
            if (low is not None and value < low) or (high is not None and value > high):
                return answer(422, {"error": f"row {row}, field `{name}`: outside the plausible range"})
            cells.append(repr(float(value)))
        lines.append(",".join(cells))
    response = client.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="application/json",
        Body="\n".join(lines) + "\n", InferenceId=context.aws_request_id)
    out = json.loads(response["Body"].read())
    out["inference_id"] = context.aws_request_id
    return answer(200, out)
