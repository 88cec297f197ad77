"""JSON bytes for every response: orjson, with a fallback for the values it refuses.

orjson refuses two things a client can smuggle into a response: a lone surrogate (`"\\ud800"`
in the request's JSON, quoted back by an error message such as a DateTime parse error) and an
integer past 64 bits (an operation's cost estimate, the product of its page sizes). Neither
may turn a refusal into a 500, so such a response goes through the standard library, its
lone surrogates replaced by U+FFFD so that the body stays valid UTF-8.
"""

from __future__ import annotations

import json
import re

import orjson

_SURROGATE = re.compile("[\ud800-\udfff]")


def encode_json(data: object) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(_without_surrogates(data), separators=(",", ":"), ensure_ascii=False).encode()


def _without_surrogates(value: object) -> object:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_surrogates(item) for item in value]
    return value
