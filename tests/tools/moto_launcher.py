"""Start moto's server for the deployer tests, with workarounds for moto's own bugs.

Usage: python3 moto_launcher.py PORT [--without NAME]...

Each workaround below names the moto bug it works around. `--without NAME`
starts moto without that one, so a test can show the bug is still there
(tests/deploy_moto.rs does, for every workaround).
"""

import sys

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


def main(argv):
    port = argv[0]
    without = {argv[i + 1] for i, a in enumerate(argv) if a == "--without" and i + 1 < len(argv)}
    unknown = without - WORKAROUNDS.keys()
    if unknown:
        sys.exit(f"unknown workaround(s): {', '.join(sorted(unknown))}")
    for name, apply in WORKAROUNDS.items():
        if name not in without:
            apply()
    from moto.server import main as serve

    serve(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
