"""Start moto's server for the deployer tests, with workarounds for moto's own bugs.

Usage: python3 moto_launcher.py PORT [--without NAME]... [--max-wait SECONDS]

Each workaround below names the moto bug it works around. `--without NAME`
starts moto without that one, so a test can show the bug is still there
(tests/deploy_moto.rs does, for every workaround).

State machines really run (moto's own interpreter, `execute_state_machine`),
their AWS SDK tasks calling this same server. `--max-wait SECONDS` caps
their Wait states: moto settles a stack update at once, so a test need not
sleep the minute a rendered poll waits on AWS.
"""

import json
import os
import sys
import uuid

WORKAROUNDS = {}


def workaround(name):
    def register(fn):
        WORKAROUNDS[name] = fn
        return fn

    return register


@workaround("change-set-exports")
def change_set_exports():
    """moto bug: a stack made by a CREATE change set is built without the
    region's exports, so its `Fn::ImportValue`s cannot resolve; and executing
    a change set never publishes the stack's Outputs/Exports, so DeleteStack
    later fails with a 500 (KeyError) removing exports that were never added.
    Workaround: give the stack the region's exports before the change set is
    applied, and publish its exports afterwards, as CreateStack does."""
    from moto.cloudformation import models

    original = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        change_set = self.change_sets.get(change_set_name)
        if change_set is None:
            change_set = next(
                (c for c in self.change_sets.values() if c.change_set_name == change_set_name),
                None,
            )
        if change_set is not None:
            stack = self.stacks[change_set.stack_id]
            stack.cross_stack_resources = self.exports
            stack.resource_map.cross_stack_resources = self.exports
        original(self, change_set_name, stack_name)
        if change_set is not None:
            stack = self.stacks[change_set.stack_id]
            stack._parse_template()
            stack.output_map = stack._create_output_map()
            for export in stack.exports:
                self.exports[export.name] = export

    models.CloudFormationBackend.execute_change_set = execute_change_set


def _kms_key_properties(change):
    """Wrap moto's KMS Key creation from CloudFormation so `change` can
    rewrite the resource's Properties first."""
    from moto.kms import models

    original = models.Key.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        json_copy = dict(cloudformation_json)
        json_copy["Properties"] = change(dict(json_copy.get("Properties", {})))
        return original(cls, resource_name, json_copy, account_id, region_name, **kwargs)

    models.Key.create_from_cloudformation_json = classmethod(create)


@workaround("kms-key-tags")
def kms_key_tags():
    """moto bug: AWS::KMS::Key `Tags` from CloudFormation (`Key`/`Value`) are
    handed to KMS's tagger, which expects `TagKey`/`TagValue`: KeyError
    'TagKey', a 500 on ExecuteChangeSet. Workaround: rename the fields."""

    def change(props):
        if "Tags" in props:
            props["Tags"] = [
                {"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
                for t in props["Tags"]
            ]
        return props

    _kms_key_properties(change)


@workaround("endpoint-instance-types")
def endpoint_instance_types():
    """moto bug: EndpointConfig production variants are checked against a
    stale list of instance types (`ml.c6i.large`, current since 2022, is
    rejected with a ValidationException). Workaround: accept every `ml.*`
    type, as the real service's own validation is what matters."""
    from moto.sagemaker import models

    original = models.FakeEndpointConfig.validate_instance_type

    def validate_instance_type(self, instance_type):
        if isinstance(instance_type, str) and instance_type.startswith("ml."):
            return
        original(self, instance_type)

    models.FakeEndpointConfig.validate_instance_type = validate_instance_type


@workaround("sagemaker-cfn-resources")
def sagemaker_cfn_resources():
    """moto bug: CloudFormation has no model for AWS::SageMaker::ModelPackageGroup
    and AWS::SageMaker::Pipeline: it skips them ("No Moto CloudFormation
    support"), so a `Fn::GetAtt` on them fails the whole stack. Workaround:
    small models that create them through moto's own SageMaker backend."""
    from moto.core.common_models import CloudFormationModel
    from moto.sagemaker.models import sagemaker_backends

    def unsupported(attribute):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    class ModelPackageGroupResource(CloudFormationModel):
        # moto finds a model's service from its module name
        __module__ = "moto.sagemaker.models"

        def __init__(self, name, arn):
            self.name = name
            self.arn = arn

        @staticmethod
        def cloudformation_type():
            return "AWS::SageMaker::ModelPackageGroup"

        @staticmethod
        def cloudformation_name_type():
            return "ModelPackageGroupName"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json.get("Properties", {})
            name = props.get("ModelPackageGroupName", resource_name)
            arn = sagemaker_backends[account_id][region_name].create_model_package_group(
                name, props.get("ModelPackageGroupDescription", ""), tags=props.get("Tags")
            )
            return cls(name, arn)

        @property
        def physical_resource_id(self):
            return self.arn

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr == "ModelPackageGroupArn"

        def get_cfn_attribute(self, attribute_name):
            if attribute_name == "ModelPackageGroupArn":
                return self.arn
            unsupported(attribute_name)

    class PipelineResource(CloudFormationModel):
        # moto finds a model's service from its module name
        __module__ = "moto.sagemaker.models"

        def __init__(self, name, arn):
            self.name = name
            self.arn = arn

        @staticmethod
        def cloudformation_type():
            return "AWS::SageMaker::Pipeline"

        @staticmethod
        def cloudformation_name_type():
            return "PipelineName"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json.get("Properties", {})
            name = props.get("PipelineName", resource_name)
            definition = props.get("PipelineDefinition", {})
            pipeline = sagemaker_backends[account_id][region_name].create_pipeline(
                pipeline_name=name,
                pipeline_display_name=props.get("PipelineDisplayName", name),
                pipeline_definition=definition.get("PipelineDefinitionBody"),
                pipeline_definition_s3_location=definition.get("PipelineDefinitionS3Location"),
                pipeline_description=props.get("PipelineDescription", ""),
                role_arn=props.get("RoleArn"),
                tags=props.get("Tags", []),
                parallelism_configuration=props.get("ParallelismConfiguration"),
            )
            return cls(name, pipeline.arn)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            name = cloudformation_json.get("Properties", {}).get("PipelineName", resource_name)
            backend = sagemaker_backends[account_id][region_name]
            backend.pipelines.pop(name, None)

        @property
        def physical_resource_id(self):
            return self.name

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr == "PipelineArn"

        def get_cfn_attribute(self, attribute_name):
            if attribute_name == "PipelineArn":
                return self.arn
            unsupported(attribute_name)


@workaround("endpoint-name")
def endpoint_name():
    """moto bug: AWS::SageMaker::Endpoint from CloudFormation ignores its
    `EndpointName` (moto's model declares no name property), so the endpoint
    gets a generated name and DescribeEndpoint by the rendered name finds
    nothing. Workaround: name it from `EndpointName`, as CloudFormation does."""
    from moto.sagemaker import models

    models.FakeEndpoint.cloudformation_name_type = staticmethod(lambda: "EndpointName")


@workaround("delete-managed-policies")
def delete_managed_policies():
    """moto bug: DeleteStack deletes an AWS::IAM::ManagedPolicy without
    detaching it first, and a role while policies are attached, so both fail
    (DeleteConflict "must detach all policies first") and the stack cannot be
    deleted. CloudFormation detaches a managed policy it deletes.
    Workaround: detach a managed policy from its roles, users and groups
    before CloudFormation deletes it."""
    from moto.cloudformation import parsing
    from moto.iam import models as iam

    original = parsing.ResourceMap._delete_resource

    def _delete_resource(self, parsed_resource, resource_json):
        if isinstance(parsed_resource, iam.ManagedPolicy):
            backend = parsed_resource.backend
            for entities in (backend.roles, backend.users, backend.groups):
                for entity in list(entities.values()):
                    if parsed_resource.arn in entity.managed_policies:
                        parsed_resource.detach_from(entity)
        original(self, parsed_resource, resource_json)

    parsing.ResourceMap._delete_resource = _delete_resource


@workaround("jsonpath-definite-index")
def jsonpath_definite_index():
    """moto bug: its Step Functions interpreter returns a one-element list
    for a path through a literal index, e.g. `$.Containers[0].ModelDataUrl`
    (a fix for filter queries, moto issue 7825, catches every path after an
    index), where AWS returns the value: such a path names one node.
    Workaround: a path of names and literal indices only yields its single
    match's value; filters, wildcards, slices and descent keep moto's lists."""
    import re

    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json
    indefinite = re.compile(r"\*|\.\.|\?\(|\[[^\]]*:")

    def extract_json(path, data):
        value = original(path, data)
        if isinstance(value, list) and not indefinite.search(path):
            matches = json_path.parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return value

    json_path.extract_json = extract_json
    # modules that imported it before this point hold the original
    for module in list(sys.modules.values()):
        if getattr(module, "extract_json", None) is original:
            module.extract_json = extract_json


@workaround("cfn-state-machines")
def cfn_state_machines():
    """moto bug: with state machines executing (`execute_state_machine`), the
    Step Functions API serves them from the interpreter's backend, but
    CloudFormation still creates AWS::StepFunctions::StateMachine in the
    other one, so StartExecution and DescribeStateMachine cannot find a
    state machine a stack made. Workaround: CloudFormation creates and
    deletes them in the backend the API serves."""
    from moto.stepfunctions import models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    models.stepfunctions_backends = stepfunctions_parser_backends


@workaround("definition-substitutions")
def definition_substitutions():
    """moto bug: AWS::StepFunctions::StateMachine from CloudFormation ignores
    `DefinitionSubstitutions`, so a state machine runs with `${TopicArn}`
    and the like left literal in its definition. Workaround: substitute them
    into `DefinitionString` before moto creates or updates the machine, as
    CloudFormation does."""
    from moto.stepfunctions import models

    def substituted(cloudformation_json):
        props = dict(cloudformation_json.get("Properties", {}))
        text = props.get("DefinitionString", "")
        for name, value in (props.pop("DefinitionSubstitutions", None) or {}).items():
            text = text.replace("${" + name + "}", str(value))
        props["DefinitionString"] = text
        return {**cloudformation_json, "Properties": props}

    create = models.StateMachine.create_from_cloudformation_json.__func__
    update = models.StateMachine.update_from_cloudformation_json.__func__

    # moto passes these by position or by name, depending on the caller
    def with_substitutions(method, position):
        def call(cls, *args, **kwargs):
            if "cloudformation_json" in kwargs:
                kwargs["cloudformation_json"] = substituted(kwargs["cloudformation_json"])
            elif len(args) > position:
                args = (*args[:position], substituted(args[position]), *args[position + 1 :])
            return method(cls, *args, **kwargs)

        return classmethod(call)

    models.StateMachine.create_from_cloudformation_json = with_substitutions(create, 1)
    models.StateMachine.update_from_cloudformation_json = with_substitutions(update, 2)


@workaround("concurrent-executions")
def concurrent_executions():
    """moto bug: StartExecution deep-copies the state machine, with its
    executions and the backend it points to; a running execution holds
    thread locks, so while any execution runs no other can start
    (TypeError: cannot pickle '_thread.RLock' object, a 500). Workaround: the
    copy shares the backend and starts with no executions, which is all an
    execution needs of it."""
    import copy
    import types

    from moto.stepfunctions.parser import models

    def deepcopy(machine, memo=None):
        memo = {} if memo is None else memo
        memo[id(machine.backend)] = machine.backend
        memo[id(machine.executions)] = []
        return copy.deepcopy(machine, memo)

    models.copy = types.SimpleNamespace(deepcopy=deepcopy)


@workaround("events-step-functions-targets")
def events_step_functions_targets():
    """moto bug: an EventBridge rule whose target is a Step Functions state
    machine makes PutEvents fail (NotImplementedError, a 500) for every
    matching event, where AWS starts an execution with the event as its
    input; and it hands every event to rules that have a schedule and no
    pattern, which AWS runs by the clock alone. Workaround: a rule without a
    pattern receives no event; a matching one starts its state machines'
    executions, then moto delivers to the other targets."""
    from moto.events import models
    from moto.stepfunctions.responses import get_backend

    original = models.Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):
        # a rule on a schedule (no pattern) is run by the clock, never by an event
        if not self.event_pattern.get_pattern():
            return
        if not self.event_pattern.matches_event(original_event):
            return
        machines = [t for t in self.targets if ":states:" in t["Arn"]]
        for target in machines:
            region = target["Arn"].split(":")[3]
            given = target.get("Input")
            body = given if given is not None else json.dumps(original_event, default=str)
            # AWS names an execution it starts for a rule with a fresh id; a
            # target that cannot start is a failed invocation, never an
            # error of the call that sent the event
            try:
                get_backend(self.account_id, region).start_execution(
                    target["Arn"], name=str(uuid.uuid4()), execution_input=body
                )
            except Exception as error:  # noqa: BLE001
                print(f"rule {self.name}: target {target['Id']} not invoked: {error}", file=sys.stderr)
        kept = self.targets
        self.targets = [t for t in kept if t not in machines]
        try:
            original(self, original_event, transform_input)
        finally:
            self.targets = kept

    models.Rule.send_to_targets = send_to_targets


@workaround("model-package-events")
def model_package_events():
    """moto bug: SageMaker sends no "SageMaker Model Package State Change"
    event to the default event bus when a model package is created or its
    approval status changes, so no rule on approval ever fires. Workaround:
    send it, its detail the package as DescribeModelPackage shows it."""
    from moto.events.models import events_backends
    from moto.sagemaker import models

    def announce(backend, arn):
        package = backend.describe_model_package(arn)
        detail = package.gen_response_object()
        events_backends[backend.account_id][backend.region_name].put_events(
            [
                {
                    "Source": "aws.sagemaker",
                    "DetailType": "SageMaker Model Package State Change",
                    "Detail": json.dumps(detail, default=str),
                    "Resources": [package.arn],
                }
            ]
        )

    update = models.SageMakerModelBackend.update_model_package
    create = models.SageMakerModelBackend.create_model_package

    def update_model_package(self, model_package_arn, model_approval_status, *args, **kwargs):
        before = self.describe_model_package(model_package_arn).model_approval_status
        arn = update(self, model_package_arn, model_approval_status, *args, **kwargs)
        if model_approval_status and model_approval_status != before:
            announce(self, arn)
        return arn

    def create_model_package(self, *args, **kwargs):
        arn = create(self, *args, **kwargs)
        announce(self, arn)
        return arn

    models.SageMakerModelBackend.update_model_package = update_model_package
    models.SageMakerModelBackend.create_model_package = create_model_package


def execute_state_machines(port, max_wait):
    """Run state machines, their SDK tasks against this server, each Wait
    capped at `max_wait` seconds when given."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    # moto's interpreter sends its SDK tasks to MOTO_PORT on localhost
    os.environ["MOTO_PORT"] = port
    if max_wait is not None:
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
            wait_function,
        )

        original = wait_function.WaitFunction._wait_interval

        def _wait_interval(self, env, wait_seconds):
            original(self, env, min(wait_seconds, max_wait))

        wait_function.WaitFunction._wait_interval = _wait_interval


def main(argv):
    port = argv[0]
    def values(flag):
        return [argv[i + 1] for i, a in enumerate(argv) if a == flag and i + 1 < len(argv)]

    without = set(values("--without"))
    unknown = without - WORKAROUNDS.keys()
    if unknown:
        sys.exit(f"unknown workaround(s): {', '.join(sorted(unknown))}")
    max_wait = values("--max-wait")
    execute_state_machines(port, int(max_wait[-1]) if max_wait else None)
    for name, apply in WORKAROUNDS.items():
        if name not in without:
            apply()
    from moto.server import main as serve

    serve(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
