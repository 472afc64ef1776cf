#!/usr/bin/env python3
"""Writes CloudFormation templates holding about N resources in all for
benches/audit/run.sh: the resources of a rendered stack, copied with suffixed
logical ids, each copy's references (Ref, Fn::GetAtt, ${Id} in Fn::Sub,
DependsOn) pointing into the same copy, so every control judges
N/len(stack) real buckets, roles, keys and functions.

Copies are packed into templates of at most 500 resources, CloudFormation's
limit per stack, so a large estate is many stacks audited in one run, as an
organisation's would be. Prints the resource count and the file names.

    gen.py STACK.yaml N OUT_DIR
"""
import json
import re
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


def cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


Loader.add_multi_constructor("!", cfn_tag)


def renamed(value, ids, suffix):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "Ref" and v in ids:
                out[k] = v + suffix
            elif k == "Fn::GetAtt" and isinstance(v, list) and v[0] in ids:
                out[k] = [v[0] + suffix] + v[1:]
            elif k == "DependsOn":
                deps = v if isinstance(v, list) else [v]
                out[k] = [d + suffix if d in ids else d for d in deps]
            else:
                out[k] = renamed(v, ids, suffix)
        return out
    if isinstance(value, list):
        return [renamed(v, ids, suffix) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{([A-Za-z0-9]+)([.}])",
                      lambda m: "${" + (m.group(1) + suffix if m.group(1) in ids else m.group(1)) + m.group(2),
                      value)
    return value


PER_STACK = 500


def main():
    source, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(source) as f:
        template = yaml.load(f, Loader=Loader)
    resources = template.pop("Resources")
    template.pop("Outputs", None)
    ids = set(resources)
    copies = max(1, n // len(resources))
    per_file = max(1, PER_STACK // len(resources))
    total, files = 0, []
    for first in range(0, copies, per_file):
        chunk = {}
        for c in range(first, min(copies, first + per_file)):
            suffix = f"C{c}"
            for logical, resource in resources.items():
                chunk[logical + suffix] = renamed(resource, ids, suffix)
        name = f"{out}/stack{len(files):03}.json"
        with open(name, "w") as f:
            json.dump({**template, "Resources": chunk}, f)
        total += len(chunk)
        files.append(name)
    print(total, *files)


main()
