"""Yandex Market's official OpenAPI description (../shared/specs/yandex-market/openapi) as validators.

The root file lists every upstream path; only the paths whose file was copied are kept, and `$ref`s are
resolved relative to the file that holds them, as the specs README says. Both the sandbox's answers and
the connector's requests are checked against the operation they belong to.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from conftest import IN_CI

SPEC_ROOT = Path(settings.BASE_DIR).parent / "shared" / "specs" / "yandex-market" / "openapi"


def spec_available() -> bool:
    return (SPEC_ROOT / "openapi.yaml").is_file()


def skip_reason() -> str | None:
    """Why spec tests cannot run here (None when they can); in CI a missing spec is a failure, not a skip."""
    if spec_available():
        return None
    if IN_CI:
        raise AssertionError(f"The Yandex Market spec is missing at {SPEC_ROOT} (CI=true requires it)")
    return f"Yandex Market spec not found at {SPEC_ROOT}"


@cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _retrieve(uri: str) -> Resource:
    return Resource.from_contents(_load(Path(uri.removeprefix("file://"))), default_specification=DRAFT4)


@cache
def _registry() -> Registry:
    return Registry(retrieve=_retrieve)


@cache
def operations() -> dict[tuple[str, str], tuple[Path, dict]]:
    """(METHOD, path template) -> (the path file, its operation), for the copied paths only."""
    root = _load(SPEC_ROOT / "openapi.yaml")
    found = {}
    for template, entry in root["paths"].items():
        file = (SPEC_ROOT / entry["$ref"]).resolve()
        if not file.is_file():
            continue
        for method, operation in _load(file).items():
            if isinstance(operation, dict) and "responses" in operation:
                found[(method.upper(), template)] = (file, operation)
    return found


def _match(method: str, url_path: str) -> tuple[str, Path, dict]:
    for (verb, template), (file, operation) in operations().items():
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if verb == method.upper() and re.match(pattern, url_path):
            return template, file, operation
    raise AssertionError(f"{method} {url_path} is not an operation of the copied Yandex Market spec")


def _resolve(node: dict, file: Path) -> tuple[dict, Path]:
    while "$ref" in node:
        file = (file.parent / node["$ref"]).resolve()
        node = _load(file)
    return node, file


def _validator(schema: dict, file: Path) -> OAS30Validator:
    if "$ref" in schema:
        target = (file.parent / schema["$ref"]).resolve()
        return OAS30Validator({"$ref": target.as_uri()}, registry=_registry(), format_checker=oas30_format_checker)
    # An inline schema: give it its file's URI so its relative refs resolve.
    return OAS30Validator({**schema, "$id": file.as_uri()}, registry=_registry(),
                          format_checker=oas30_format_checker)


def _properties(node: dict, file: Path) -> tuple[dict[str, tuple[dict, Path]], bool]:
    """A schema's declared properties, allOf members merged, each with the file its refs resolve against;
    and whether it declares any object shape at all."""
    node, file = _resolve(node, file)
    found = {name: (sub, file) for name, sub in (node.get("properties") or {}).items()}
    shaped = "properties" in node or "additionalProperties" in node
    for member in node.get("allOf") or []:
        more, member_shaped = _properties(member, file)
        found.update(more)
        shaped = shaped or member_shaped
    return found, shaped


def unknown_fields(node: dict, file: Path, instance: Any, where: str = "") -> list[str]:
    """Field names the schema does not declare (jsonschema lets them through; the real API never sends them)."""
    node, file = _resolve(node, file)
    if isinstance(instance, list) and isinstance(node.get("items"), dict):
        return [p for n, item in enumerate(instance) for p in unknown_fields(node["items"], file, item, f"{where}/{n}")]
    if not isinstance(instance, dict):
        return []
    declared, shaped = _properties(node, file)
    if not shaped or node.get("additionalProperties"):
        return []
    problems = [f"{where}/{key}: not in the spec" for key in instance if key not in declared]
    for key, value in instance.items():
        if key in declared:
            problems += unknown_fields(declared[key][0], declared[key][1], value, f"{where}/{key}")
    return problems


def response_errors(method: str, url_path: str, status: int, body: Any) -> list[str]:
    """Why this answer does not match the operation's response schema (empty when it does)."""
    _template, file, operation = _match(method, url_path)
    response = operation["responses"].get(str(status))
    if response is None:
        return [f"{method} {url_path}: status {status} is not a documented response"]
    response, where = _resolve(response, file)
    schema = (response.get("content") or {}).get("application/json", {}).get("schema")
    if schema is None:
        return []
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(schema, where).iter_errors(body)]
    return problems + unknown_fields(schema, where, body)


def request_errors(method: str, url_path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """Why this request does not match the operation: unknown query parameters, or a body off its schema."""
    _template, file, operation = _match(method, url_path)
    problems = []
    names = set()
    for parameter in operation.get("parameters") or []:
        parameter, _where = _resolve(parameter, file)
        if parameter.get("in") == "query":
            names |= {parameter["name"], *(parameter.get("x-aliases") or [])}
    problems += [f"unknown query parameter {name}" for name in query if name not in names]
    content = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json")
    if content is None:
        if body not in (None, b"", ""):
            problems.append("a body was sent to an operation that takes none")
        return problems
    problems += [f"body/{'/'.join(map(str, e.absolute_path))}: {e.message}"
                 for e in _validator(content["schema"], file).iter_errors(body)]
    return problems + [f"body{p}" for p in unknown_fields(content["schema"], file, body)]
