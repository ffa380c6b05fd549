"""The hand-written mock CRM's OpenAPI 3.1 document, built from its current contract."""

from __future__ import annotations

from typing import Any

from .contract import Contract

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "field": {"type": "string"},
                    "type": {
                        "type": "string",
                        "enum": [
                            "missing",
                            "wrong_type",
                            "enum",
                            "format",
                            "unknown_field",
                            "type_error",
                        ],
                    },
                    "msg": {"type": "string"},
                    "expected": {"type": "object", "description": "The field's schema."},
                },
            },
        },
        "schema": {"type": "object", "description": "The current UserCreate schema."},
        "contract_version": {"type": "integer"},
    },
}


def openapi_document(contract: Contract, *, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document describing ``contract`` (served at ``GET /openapi.json``)."""
    user_create = contract.request_schema()
    user = {
        "allOf": [
            {"$ref": "#/components/schemas/UserCreate"},
            {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        ]
    }

    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Mock CRM staging API",
            "version": f"contract-v{contract.version}",
            "description": (
                "Staging copy of the CRM's user API, shipped with nbworkflow for demos and "
                "tests. Every request needs 'Authorization: Bearer <token>'."
            ),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/users": {
                "post": {
                    "operationId": "createUser",
                    "summary": "Create a user from a UserCreate payload.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/UserCreate"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Created.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/User"}
                                }
                            },
                        },
                        "400": error("The body is not JSON."),
                        "401": error("Missing or wrong bearer token."),
                        "422": error("The payload does not match UserCreate; see detail."),
                        "503": error("Temporarily unavailable; retry later."),
                    },
                },
                "get": {
                    "operationId": "listUsers",
                    "summary": "Users created so far.",
                    "responses": {"200": {"description": "A list of users."}},
                },
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"UserCreate": user_create, "User": user, "Error": _ERROR_SCHEMA},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


__all__ = ["openapi_document"]
