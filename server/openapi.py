"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json.

Written by hand next to the routes it describes; a property-based test (schemathesis) checks
that the server's answers conform to it.
"""

from __future__ import annotations

from srllm import contract
from srllm.errors import Code
from srllm.server.settings import ServerSettings
from srllm.server.task import MAX_ALLOW_CHARS, MAX_ALLOW_TERMS, STRICTNESS

_STRICTNESS = {
    "type": "string",
    "enum": list(STRICTNESS),
    "default": "conservative",
    "description": "How readily a sentence is called biased: `conservative` at the model's "
    "calibrated threshold, `sensitive` at the scan's `review` threshold (0.15 below it), "
    "`balanced` halfway.",
}


_ALLOW = {
    "type": "array",
    "maxItems": MAX_ALLOW_TERMS,
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_ALLOW_CHARS},
    "description": "Terms the user accepts (literal, case-insensitive, on word boundaries): "
    "never highlighted by any source, never pushed down in a rewrite. A sentence whose only "
    "evidence was allowed terms is neutral (in a scan too: its label, not its score).",
}

_MUTE = {
    "type": "array",
    "items": {"type": "string", "enum": list(contract.CATEGORIES)},
    "description": "Categories not to flag: a lexicon term of a muted category is not "
    "highlighted, and the model's verdict does not count when all its categories are muted "
    "(in a scan, every sentence over the review threshold is then checked in full: slower).",
}

_TEXT_REQUEST = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": ServerSettings.max_text_chars,
            "pattern": r"\S",
            "description": "The text to check (not only white space).",
        },
        "stream": {"type": "boolean", "default": False},
        "all": {
            "type": "boolean",
            "default": False,
            "description": "/v1/rewrite only: rewrite every sentence, not only the biased ones.",
        },
        "strictness": _STRICTNESS,
        "allow": _ALLOW,
        "mute": _MUTE,
    },
}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in Code]},
                "message": {"type": "string"},
            },
        }
    },
}

_SPAN = {
    "type": "object",
    "required": ["start", "end", "text", "source"],
    "properties": {
        "start": {"type": "integer", "minimum": 0, "description": "Unicode code point offset"},
        "end": {"type": "integer", "minimum": 0},
        "text": {"type": "string"},
        "source": {"type": "string", "enum": ["model", "lexicon", "opinion", "generalisation"]},
        "alternatives": {"type": "array", "items": {"type": "string"}},
    },
}

_P_BIASED = {"type": ["number", "null"], "minimum": 0, "maximum": 1}

# Where a sentence sits in the selection (code point offsets) and its number in it.
_POSITION = {
    "index": {"type": "integer", "minimum": 0},
    "start": {"type": "integer", "minimum": 0},
    "end": {"type": "integer", "minimum": 0},
}

_SENTENCE_FLAG = {
    "type": "object",
    "required": ["index", "start", "end", "label", "biased", "categories", "spans"],
    "properties": {
        **_POSITION,
        "label": {"type": "string", "enum": list(contract.LABELS)},
        "biased": {"type": "boolean"},
        "categories": {"type": "array", "items": {"type": "string"}},
        "spans": {"type": "array", "items": {"$ref": "#/components/schemas/Span"}},
        "explanation": {"type": "string"},
        "p_biased": _P_BIASED,
    },
}

_SENTENCE_REWRITE = {
    "type": "object",
    "required": ["index", "start", "end", "biased", "rewrite", "changed", "guided", "still_biased"],
    "properties": {
        **_POSITION,
        "biased": {"type": "boolean"},
        "rewrite": {"type": ["string", "null"]},
        "changed": {"type": "boolean"},
        "guided": {
            "type": "boolean",
            "description": "the rewrite was made with the sentence's highlighted words pushed down",
        },
        "still_biased": {
            "type": ["boolean", "null"],
            "description": "the text returned for this biased sentence (the best of its tries, "
            "or the sentence itself when it came back unchanged) would still be flagged by "
            "srllm: review it; null for a sentence not flagged biased",
        },
    },
}

_STILL_BIASED = {
    "type": "boolean",
    "description": "some biased sentence's rewrite would still be flagged (its still_biased)",
}

_FLAG = {
    "type": "object",
    "required": ["label", "biased", "categories", "spans", "explanation", "model"],
    "properties": {
        "label": {"type": "string", "enum": list(contract.LABELS)},
        "biased": {"type": "boolean"},
        "categories": {
            "type": "array",
            "items": {"type": "string", "enum": list(contract.CATEGORIES)},
        },
        "spans": {"type": "array", "items": {"$ref": "#/components/schemas/Span"}},
        "explanation": {"type": "string"},
        "model": {"type": "string"},
        "p_biased": _P_BIASED,
        "sentences": {"type": "array", "items": _SENTENCE_FLAG},
    },
}

_REWRITE = {
    "type": "object",
    "required": ["rewrite", "changed", "still_biased", "model"],
    "properties": {
        "rewrite": {"type": "string"},
        "changed": {"type": "boolean"},
        "still_biased": _STILL_BIASED,
        "model": {"type": "string"},
        "sentences": {"type": "array", "items": _SENTENCE_REWRITE},
    },
}

_DEBIAS = {
    "type": "object",
    "required": ["flag", "rewrite", "changed", "still_biased", "model"],
    "properties": {
        "flag": {"$ref": "#/components/schemas/Flag"},
        "rewrite": {"type": ["string", "null"]},
        "changed": {"type": "boolean"},
        "still_biased": _STILL_BIASED,
        "model": {"type": "string"},
        "sentences": {"type": "array", "items": _SENTENCE_REWRITE},
    },
}

_SCAN_REQUEST = {
    "type": "object",
    "description": "Exactly one of `text` and `segments`.",
    "oneOf": [{"required": ["text"]}, {"required": ["segments"]}],
    "properties": {
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": ServerSettings.max_scan_chars,
            "pattern": r"\S",
            "description": "The document to scan (not only white space).",
        },
        "segments": {
            "type": "array",
            "minItems": 1,
            "maxItems": ServerSettings.max_scan_segments,
            "description": "Parts of a document (paragraphs, cells), each with an id the "
            "answer's sentences carry; ids are unique; the texts together hold at most "
            f"{ServerSettings.max_scan_chars} characters.",
            "items": {
                "type": "object",
                "required": ["id", "text"],
                "properties": {
                    "id": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
                    "text": {"type": "string"},
                },
            },
        },
        "stream": {
            "type": "boolean",
            "default": False,
            "description": "Server-sent events: `start`, one `sentence` per sentence in "
            "order, `done` with the JSON answer (after `queued`... and `started` when the "
            "scan waited for the model).",
        },
        "strictness": _STRICTNESS,
        "allow": _ALLOW,
        "mute": _MUTE,
    },
}

_SCAN_THRESHOLDS = {
    "type": "object",
    "required": ["biased", "review"],
    "description": "A sentence is `biased` at score >= biased (the model's calibrated flag "
    "threshold), `review` at score >= review (0.15 below it), `neutral` below; a sentence "
    "that /v1/flag flags by its text rules (a known term of the lexicon, a generalisation about "
    "a group) is `biased` whatever its score.",
    "properties": {
        "biased": {"type": "number", "minimum": 0, "maximum": 1},
        "review": {"type": "number", "minimum": 0, "maximum": 1},
    },
}

_SCAN_SENTENCE = {
    "type": "object",
    "required": ["index", "start", "end", "score", "label"],
    "properties": {
        **_POSITION,
        "id": {
            "oneOf": [{"type": "string"}, {"type": "integer"}],
            "description": "The segment's id (segments only); start and end are then offsets "
            "into that segment's text.",
        },
        "score": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "P(biased) at the label position of the flag prompt, as p_biased "
            "of /v1/flag.",
        },
        "label": {"type": "string", "enum": ["biased", "review", "neutral"]},
    },
}

_SCAN = {
    "type": "object",
    "required": ["model", "thresholds", "counts", "scored", "sentences"],
    "properties": {
        "model": {
            "type": "string",
            "description": "The model that scored the sentences: the server's scan model when "
            "it has one (/health model.scan), else the model that flags.",
        },
        "thresholds": _SCAN_THRESHOLDS,
        "counts": {
            "type": "object",
            "required": ["biased", "review", "neutral"],
            "properties": {k: {"type": "integer"} for k in ("biased", "review", "neutral")},
        },
        "scored": {
            "type": "integer",
            "minimum": 0,
            "description": "Sentences the model read in this call; the rest came from the "
            "cache, were repeats, or had no letters.",
        },
        "sentences": {"type": "array", "items": _SCAN_SENTENCE},
    },
}

_CHAT_REQUEST = {
    "type": "object",
    "required": ["messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                    "content": {"type": "string"},
                },
            },
        },
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2147483647},
        "stop": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 4},
            ]
        },
        "stream": {"type": "boolean"},
    },
}

_CHAT_RESPONSE = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array"},
        "usage": {"type": "object"},
    },
}


def _sse(events: list[str] | None) -> dict:
    """One server-sent event: a named event (or none, OpenAI style) whose data is JSON text."""
    event = {"type": "string", "enum": events} if events else {"type": "string"}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"event": event, "data": {"type": "string"}},
    }


def _errors(*statuses: int) -> dict:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {str(s): {"description": "error", **ref} for s in statuses}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


def _task_route(summary: str, response: str, streams: bool) -> dict:
    ok = _json(response, "result")
    if streams:
        # `queued` ({"position"}; 1 is next), repeated as a keep-alive, then `started`: only
        # when the call waited for the model behind another.
        names = ["queued", "started", "progress", "delta", "sentence", "done", "error"]
        if response == "Debias":
            names.insert(1, "flag")
        ok["content"]["text/event-stream"] = {"schema": _sse(names)}
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TextRequest"}}
                },
            },
            "responses": {"200": ok, **_errors(400, 401, 403, 413, 422, 502, 504)},
        }
    }


def openapi_spec() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "srllm",
            "version": contract.CONTRACT_VERSION,
            "description": "Flag biased text and rewrite it neutrally, on this machine.",
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness, the running model and the contract version",
                    "responses": {"200": _json("Health", "server is up"), **_errors(403)},
                }
            },
            "/v1/flag": _task_route("Flag biased text", "Flag", streams=False),
            "/v1/rewrite": _task_route("Rewrite text neutrally", "Rewrite", streams=True),
            "/v1/debias": _task_route("Flag, and rewrite when biased", "Debias", streams=True),
            "/v1/scan": {
                "post": {
                    "summary": "Score every sentence of a long text (one forward pass each)",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ScanRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "every sentence's score and label",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Scan"}
                                },
                                "text/event-stream": {
                                    "schema": _sse(
                                        ["queued", "started", "start", "sentence", "done", "error"]
                                    )
                                },
                            },
                        },
                        **_errors(400, 401, 403, 413, 422),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "The model this server runs (OpenAI-compatible)",
                    "security": [{"bearer": []}],
                    "responses": {"200": {"description": "model list"}, **_errors(401, 403)},
                }
            },
            "/v1/chat/completions": {
                "post": {
                    "summary": "OpenAI-compatible chat completion",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ChatRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "completion",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ChatResponse"}
                                },
                                "text/event-stream": {"schema": _sse(None)},
                            },
                        },
                        **_errors(400, 401, 403, 413, 422),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "TextRequest": _TEXT_REQUEST,
                "Error": _ERROR,
                "Span": _SPAN,
                "Flag": _FLAG,
                "Rewrite": _REWRITE,
                "Debias": _DEBIAS,
                "ScanRequest": _SCAN_REQUEST,
                "Scan": _SCAN,
                "ChatRequest": _CHAT_REQUEST,
                "ChatResponse": _CHAT_RESPONSE,
                "Health": {
                    "type": "object",
                    "required": ["status", "model", "contract", "limits"],
                    "properties": {
                        "status": {"type": "string"},
                        "model": {"type": "object"},
                        "engine": {"type": "object"},  # llama.cpp, or an upstream and its state
                        "contract": {"type": "string"},
                        "limits": {"type": "object"},
                    },
                },
            },
        },
    }
