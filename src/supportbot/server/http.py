"""Shared HTTP helpers: JSON bodies read whatever the content type, errors with one shape."""
from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ApiError(HTTPException):
    """An error answered as `{"error": code, "message": message}` with `status`."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


async def read_json(request: Request, model: type[M], *, required: bool = True) -> M | None:
    """Parse the body as JSON into `model`, whatever the Content-Type (as Rasa's REST channel
    does, so `curl -d '{...}'` works). Raises ApiError(400) naming the field at fault."""
    raw = await request.body()
    if not raw.strip():
        if not required:
            return None
        raise ApiError(400, "bad_request", "the request body is empty; send a JSON object "
                                           f"with {_field_list(model)}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the request body must be a JSON object with "
                                           f"{_field_list(model)}, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "bad_request", validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    """`field 'sender' is required; field 'message' must be a string` and the like."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        kind = err.get("type", "")
        if kind == "missing":
            parts.append(f"field {loc!r} is required")
        elif kind.startswith("string"):
            parts.append(f"field {loc!r} must be a string")
        elif kind.startswith("dict"):
            parts.append(f"field {loc!r} must be a JSON object")
        else:
            parts.append(f"field {loc!r}: {err.get('msg', 'invalid value')}")
    return "; ".join(dict.fromkeys(parts))


def _field_list(model: type[BaseModel]) -> str:
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    return " and ".join(repr(n) for n in required) if required else "its fields"


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON request body read with `read_json`."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}
