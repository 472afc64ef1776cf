"""Check every step's Arguments in SageMaker pipeline definitions against
botocore's model of the SageMaker API the step becomes.

Usage: python3 check_pipeline_shapes.py pipeline.json...

A step's Arguments are the API request minus the fields the pipeline fills
itself (job names). Values may be pipeline expressions ({"Get": ...},
{"Std:Join": ...}, {"Std:JsonGet": ...}), which stand for a value of the
member's type. Exit 0 when every step matches, 1 with a list otherwise.
"""
import json
import sys

import botocore.session

STEP_OPERATIONS = {
    "Processing": ("CreateProcessingJob", {"ProcessingJobName"}),
    "Training": ("CreateTrainingJob", {"TrainingJobName"}),
    "RegisterModel": ("CreateModelPackage", set()),
    "Transform": ("CreateTransformJob", {"TransformJobName"}),
}
EXPRESSIONS = {"Get", "Std:Join", "Std:JsonGet"}
SCALARS = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "timestamp": (str,),
    "blob": (str,),
}


def is_expression(value):
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSIONS


def check(shape, value, path, errors):
    if is_expression(value):
        return
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object for {shape.name}")
            return
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                check(shape.members[key], item, f"{path}.{key}", errors)
        for required in shape.required_members:
            if required not in value:
                errors.append(f"{path}: missing required {required} of {shape.name}")
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            check(shape.member, item, f"{path}[{i}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        for key, item in value.items():
            check(shape.value, item, f"{path}[{key!r}]", errors)
    else:
        expected = SCALARS[kind]
        if kind in ("integer", "long", "float", "double") and isinstance(value, bool):
            errors.append(f"{path}: expected {kind}, got a boolean")
        elif not isinstance(value, expected):
            errors.append(f"{path}: expected {kind}, got {type(value).__name__}")
        elif kind == "string" and shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of {shape.enum}")


def steps(definition):
    for step in definition.get("Steps", []):
        yield step
        if step.get("Type") == "Condition":
            yield from step["Arguments"].get("IfSteps", [])
            yield from step["Arguments"].get("ElseSteps", [])


def main(paths):
    model = botocore.session.get_session().get_service_model("sagemaker")
    errors, checked = [], 0
    for path in paths:
        with open(path) as f:
            definition = json.load(f)
        for step in steps(definition):
            if step["Type"] not in STEP_OPERATIONS:
                continue
            operation, filled = STEP_OPERATIONS[step["Type"]]
            shape = model.operation_model(operation).input_shape
            step_errors = []
            check(shape, step["Arguments"], f"{path}:{step['Name']}", step_errors)
            step_errors = [e for e in step_errors if not any(f"missing required {f} " in e for f in filled)]
            errors.extend(step_errors)
            checked += 1
    for e in errors:
        print(e)
    print(f"{checked} steps checked against botocore {botocore.__version__}, {len(errors)} problems")
    return 1 if errors or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
