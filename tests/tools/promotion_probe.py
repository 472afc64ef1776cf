"""What moto does with the promotion loop's three parts, in one small stack:
an approved model package (SageMaker), the rule on its state change
(EventBridge) and the state machine it starts (Step Functions), which reads
the package's model data through a literal-index path and waits a minute.

Two packages are approved in a row, the second while the first promotion
runs. Prints one JSON object: whether the stack's state machine is found,
the error of an approval call if any, the executions' statuses, and what
the first one read: the model data and a `DefinitionSubstitutions` value. tests/deploy_moto.rs runs it against moto with each
of the launcher's workarounds for this loop left out, to show each is still
needed.
"""
import json
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# one attempt each: a retried approval would hide an error of the first
once = Config(retries={"total_max_attempts": 1})
cf, sm, sfn = (boto3.client(s, config=once) for s in ("cloudformation", "sagemaker", "stepfunctions"))
asl = {"StartAt": "Describe", "States": {
    "Describe": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage",
        "Parameters": {"ModelPackageName.$": "$.detail.ModelPackageArn"},
        "ResultSelector": {"modelData.$": "$.InferenceSpecification.Containers[0].ModelDataUrl"},
        "ResultPath": "$.package", "Next": "Name"},
    "Name": {"Type": "Pass", "Result": "${GroupName}", "ResultPath": "$.group", "Next": "Wait"},
    "Wait": {"Type": "Wait", "Seconds": 60, "Next": "Done"}, "Done": {"Type": "Succeed"}}}
role = "arn:aws:iam::123456789012:role/promote"
template = {"Resources": {
    "Group": {"Type": "AWS::SageMaker::ModelPackageGroup", "Properties": {"ModelPackageGroupName": "probe"}},
    "Promote": {"Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"StateMachineName": "probe-promote", "RoleArn": role, "DefinitionString": json.dumps(asl),
            "DefinitionSubstitutions": {"GroupName": "probe"}}},
    "OnApproval": {"Type": "AWS::Events::Rule", "Properties": {
        "EventPattern": {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
            "detail": {"ModelPackageGroupName": ["probe"], "ModelApprovalStatus": ["Approved"]}},
        "Targets": [{"Id": "promote", "Arn": {"Ref": "Promote"}, "RoleArn": role}]}}}}
seen = {}
cf.create_stack(StackName="probe", TemplateBody=json.dumps(template))
machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "probe-promote"]
seen["machine_found"] = bool(machines)
if not machines:
    sm.create_model_package_group(ModelPackageGroupName="probe")
# two approvals in a row: the second comes while the first promotion waits
seen["approve_error"] = None
for _ in range(2):
    arn = sm.create_model_package(ModelPackageGroupName="probe", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": "image", "ModelDataUrl": "s3://bucket/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]
    try:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    except ClientError as e:
        seen["approve_error"] = e.response["Error"].get("Code") or str(e)
executions = []
if machines:
    deadline = time.time() + 15
    while time.time() < deadline:
        executions = sfn.list_executions(stateMachineArn=machines[0])["executions"]
        if len(executions) == 2 and all(e["status"] != "RUNNING" for e in executions):
            break
        time.sleep(0.3)
seen["executions"] = [e["status"] for e in executions]
if executions:
    out = sfn.describe_execution(executionArn=executions[0]["executionArn"]).get("output")
    output = json.loads(out) if out else {}
    seen["model_data"] = output.get("package", {}).get("modelData")
    seen["group"] = output.get("group")
print(json.dumps(seen))
