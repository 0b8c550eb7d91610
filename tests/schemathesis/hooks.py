"""Schemathesis hooks for `scripts/api-fuzz`: make generated requests behave as a client that
follows the API's document does, where no schema can say it.

- `Idempotency-Key`: a client sends a new key with each new request. Hypothesis reuses small
  strings ("0", "00") across cases, and the API rightly answers 422 `idempotency_key_reused`
  to a known key with another body. A well-formed key is replaced with a fresh UUID; a
  malformed one (the negative cases) is kept, so the API's refusal of it is still tested.
- `registry`: a registry URL makes the server call it. A generated URL that could be one is
  replaced with the registry scripts/api-fuzz started (`HEPH_FUZZ_REGISTRY`), so that the
  fuzzer never sends the server anywhere else; malformed ones are kept, to be refused.
- The fuzzer's own admin and token: a generated call may find their ids (the stateful phase
  follows `GET /api/users` and `GET /api/tokens`) and demote, delete or revoke them, leaving
  every later call a 401 or 403 that tests nothing. Such an id is swapped for an unknown one.
- `cursor`: cursors are opaque, and valid only as the API gave them (`next_cursor`); the API
  answers 400 to one it did not make. In positive cases, a generated cursor is replaced with
  one in the API's own form.
"""

import base64
import os
import re
import uuid

import schemathesis

WELL_FORMED_KEY = re.compile(r"[!-~]{1,255}")
REGISTRY = os.environ["HEPH_FUZZ_REGISTRY"]
OWN_IDS = {os.environ["HEPH_FUZZ_ADMIN_ID"], os.environ["HEPH_FUZZ_TOKEN_ID"]}


def pin_registry(container):
    value = container.get("registry") if isinstance(container, dict) else None
    if isinstance(value, str) and re.match(r"https?://", value):
        container["registry"] = REGISTRY


@schemathesis.hook
def before_call(context, case, **kwargs):
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if isinstance(key, str) and WELL_FORMED_KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    params = case.path_parameters or {}
    if params.get("id") in OWN_IDS and case.method.upper() in ("PATCH", "PUT", "DELETE"):
        params["id"] = "usr_not_the_fuzzer"
    pin_registry(case.query)
    pin_registry(case.body)
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and case.query and isinstance(case.query.get("cursor"), str):
        position = f"0:{uuid.uuid4().hex}".encode()
        case.query["cursor"] = base64.urlsafe_b64encode(position).rstrip(b"=").decode()
