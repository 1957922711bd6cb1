"""Validators for Amazon's official Swagger models (../shared/specs/amazon-sp-api/), shared by the sandbox's
and the connector's tests: the sandbox's answers and the connector's requests are held to the same models."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from django.conf import settings
from jsonschema import Draft4Validator

SPECS = Path(settings.BASE_DIR).parent / "shared" / "specs" / "amazon-sp-api"


def spec_validator(spec_file: str, definition: str) -> Draft4Validator:
    """A validator for one definition of an official Swagger model, strict about unknown field names."""
    spec = json.loads((SPECS / spec_file).read_text())
    definitions = copy.deepcopy(spec["definitions"])

    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(definitions)
    return Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": definitions},
                           format_checker=Draft4Validator.FORMAT_CHECKER)
