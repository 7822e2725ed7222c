"""The app's request models, derived from its routes: bodies, fields by kind, query parameters.

Shared by the bad-input and security tests, so a new route, model or field is covered by both
without touching them. Every request model needs an OpenAPI example (the valid body that a test
spoils one field at a time) and every string field a pattern.
"""

from __future__ import annotations

import copy
import enum
import json
import types
import typing
from collections.abc import Iterator

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from serving.routers.plans import TEXT_PATTERN

SPOILED = '"__spoiled__"'


def body_routes(app: object) -> list[tuple[str, str, type[BaseModel]]]:
    """(method, path with ids filled in, request model) of every route taking a JSON body."""
    out = []
    for ctx in iter_route_contexts(app.routes):  # type: ignore[attr-defined]
        route = ctx.original_route
        if isinstance(route, APIRoute) and route.dependant.body_params:
            model = route.dependant.body_params[0].field_info.annotation
            path = route.path
            for p in route.dependant.path_params:
                path = path.replace("{" + p.name + "}", "x1")
            out.extend((m, path, model) for m in sorted(route.methods))
    return out


def _leaves(annotation: object) -> list[object]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [x for a in typing.get_args(annotation) for x in _leaves(a)]
    return [annotation]


def _patterns(obj: object) -> set[str]:
    """Regex patterns declared on an annotation or field (through Annotated and unions)."""
    found = {obj.pattern} if isinstance(getattr(obj, "pattern", None), str) else set()
    for meta in getattr(obj, "metadata", None) or []:
        found |= _patterns(meta)
    origin = typing.get_origin(obj)
    if origin is typing.Annotated or origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(obj):
            found |= _patterns(arg)
    return found


def fields(model: type[BaseModel], prefix: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path in the body, kind) of every field, nested models and lists of them included.

    Kinds: number, bool, choice (enum or literal), free text (pattern ``TEXT_PATTERN``) and id
    (any other pattern). A string field without a pattern is a failure: every one is bounded.
    """
    for name, info in model.model_fields.items():
        for leaf in _leaves(info.annotation):
            if leaf is type(None):
                continue
            inner = typing.get_args(leaf)[0] if typing.get_origin(leaf) is list else None
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from fields(inner, (*prefix, name, 0))
            elif leaf is bool:
                yield (*prefix, name), "bool"
            elif leaf in (int, float):
                yield (*prefix, name), "number"
            elif typing.get_origin(leaf) is typing.Literal or (
                isinstance(leaf, type) and issubclass(leaf, enum.Enum)
            ):
                yield (*prefix, name), "choice"
            elif leaf is str:
                patterns = _patterns(info) | _patterns(info.annotation)
                assert patterns, f"{model.__name__}.{name}: a string field needs a pattern"
                yield (*prefix, name), "free text" if patterns == {TEXT_PATTERN} else "id"


def example(model: type[BaseModel]) -> dict:
    """The model's first OpenAPI example (every request model must have one)."""
    examples = model.model_json_schema().get("examples")
    assert examples, f"{model.__name__} needs an OpenAPI example (json_schema_extra)"
    return copy.deepcopy(examples[0])


def spoil(body: dict, path: tuple, raw: str) -> bytes:
    """The body with the value at ``path`` replaced by the raw JSON text ``raw``."""
    target = body = copy.deepcopy(body)
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = "__spoiled__"
    return json.dumps(body).replace(SPOILED, raw, 1).encode()


def field_name(path: tuple) -> str:
    return ".".join(str(p) for p in ("body", *path))


def query_params(app: object) -> Iterator[tuple[str, str, str]]:
    """(path with ids filled in, name, number or text) of every query parameter of GET routes."""
    for ctx in iter_route_contexts(app.routes):  # type: ignore[attr-defined]
        route = ctx.original_route
        if isinstance(route, APIRoute) and "GET" in route.methods:
            path = route.path
            for p in route.dependant.path_params:
                path = path.replace("{" + p.name + "}", "x1")
            for q in route.dependant.query_params:
                leaves = _leaves(q.field_info.annotation)
                yield path, q.name, "number" if {int, float} & set(leaves) else "text"
