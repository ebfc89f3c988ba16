"""template.yaml as the Python tools read it: CloudFormation's short-form tags (`!Ref`, `!Sub`,
`!GetAtt`, `!If`, ...) are kept as one-key dicts named after the tag (`!Sub "x"` is
`{"Sub": "x"}`), so a reader can resolve the intrinsics it knows and see the ones it does not."""

from pathlib import Path

import yaml


class _CfnLoader(yaml.SafeLoader):
    """PyYAML's safe loader, taught every `!` tag (safe_load refuses them)."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: str | Path) -> dict:
    """The template at `path`, its tags kept as above."""
    with open(path) as f:
        return yaml.load(f, Loader=_CfnLoader)
