"""The whole API fuzzed from its own OpenAPI document (schemathesis, in-process).

Every operation of /api/openapi.json gets requests that fit its schema (positive) and requests
that break it (negative: wrong types, out-of-range numbers and ids, missing fields, odd strings),
sent with the token of a user with every role over the demo fund, so ids 1, 2, 3 ... name real
rows. Whatever is sent, no answer is a 500 and every 4xx carries the one error envelope.
Derandomized: the same requests on every run. SQLite gets the broad run, PostgreSQL a smaller
sample of the same (FUNDAPP_FUZZ_EXAMPLES / FUNDAPP_FUZZ_EXAMPLES_PG: examples per operation and
mode; raise them for a deeper run).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter

import pytest
import schemathesis
from flask.globals import _cv_app
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.transport.wsgi import WSGI_TRANSPORT

from tests.api.conftest import SEED_EMAIL, seeded_database
from tests.conftest import api_token

ENVELOPE_KEYS = {"code", "message", "details"}
EXAMPLES = {"sqlite": int(os.environ.get("FUNDAPP_FUZZ_EXAMPLES", 6)),
            "postgresql": int(os.environ.get("FUNDAPP_FUZZ_EXAMPLES_PG", 2))}
# Revoking the caller's own token would turn the rest of the run into 401s: it is fuzzed last.
LAST = ("DELETE", "/api/v1/auth/token")


@pytest.fixture
def database(request, tmp_path):
    yield from seeded_database(request, tmp_path)


def problem_of(response) -> str | None:
    """What is wrong with an answer, or None."""
    if response.status_code >= 500:
        return str(response.status_code)
    if response.status_code >= 400:
        try:
            body = json.loads(response.get_data(as_text=True))
        except ValueError:
            return f"{response.status_code} without a JSON body"
        error = body.get("error") if isinstance(body, dict) else None
        if (set(body) != {"error"} or not isinstance(error, dict) or set(error) != ENVELOPE_KEYS
                or not isinstance(error["details"], dict) or not error["message"]):
            return f"{response.status_code} without the error envelope"
    return None


class Raised(logging.Handler):
    """Keeps what the app logs for a 500 (the exception), to list it with the request."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exception = record.exc_info[1] if record.exc_info else None
        self.found.append(f"{type(exception).__name__}: {str(exception)[:300]}")


def test_no_request_the_openapi_document_allows_or_forbids_gets_a_500(app, database):
    kind = database.split(":", 1)[0].split("+")[0]
    client = app.test_client()  # IsolatedClient: each request in its own application context
    headers = {"Authorization": f"Bearer {api_token(client, SEED_EMAIL)}",
               "Accept-Language": "en"}
    schema = schemathesis.openapi.from_dict(client.get("/api/openapi.json").get_json())
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: (op.method.upper(), op.path) == LAST)
    raised = Raised()
    app.logger.handlers[:] = [raised]  # the 500s are listed below, without a traceback each
    app.logger.propagate = False

    statuses: Counter[int] = Counter()
    problems: list[str] = []
    started, in_app = time.monotonic(), 0.0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES[kind], derandomize=True, database=None,
                      deadline=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case):
                nonlocal in_app
                request = WSGI_TRANSPORT.serialize_case(case, headers=headers)
                request.pop("cookies", None)
                context = _cv_app.set(None)  # see tests/isolation.py
                began = time.monotonic()
                try:
                    response = client.open(**request)
                finally:
                    _cv_app.reset(context)
                    in_app += time.monotonic() - began
                statuses[response.status_code] += 1
                problem = problem_of(response)
                if problem:
                    body = request.get("json", request.get("data"))
                    problems.append(f"{problem} {raised.found.pop() if raised.found else ''}: "
                                    f"{case.method} {request['path']} "
                                    f"query={request.get('query_string')!r} "
                                    f"body={str(body)[:300]!r} "
                                    f"-> {response.get_data(as_text=True)[:200]}")

            try:
                send()
            except Unsatisfiable:  # nothing to break: no parameters and no body
                pass
    total = sum(statuses.values())
    print(f"\nfuzz ({kind}): {total} requests over {len(operations)} operations in "
          f"{time.monotonic() - started:.1f} s ({in_app:.1f} s in the app); statuses "
          f"{dict(sorted(statuses.items()))}; {sum(s >= 500 for s in statuses.elements())} "
          f"answers of 500 or more; {len(problems)} problems")
    for problem in problems:
        print(problem)
    assert total >= len(operations) * EXAMPLES[kind]
    # It got past the checks too: most write operations need real ids, so random cases mostly
    # end in a 4xx; still, successes come to at least half an answer per operation.
    assert statuses[200] + statuses[201] > len(operations) // 2
    assert problems == []
