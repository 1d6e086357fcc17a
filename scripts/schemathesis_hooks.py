# Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).
#
# Every check runs. One hook, filter_failure, accepts a few refusals of schema-valid bodies by the
# positive_data_acceptance check (ST202), each matched on its status, error type and message, because the request
# is refused for a reason OpenAPI 3.0 cannot state, and the spec says so in words (descriptions) instead:
#   - 504 deadline_exceeded: the request's own timeout_ms passed before it was scored (a deadline the client chose;
#     the spec declares 504 on every route whose body takes timeout_ms). The one 5xx that is not a server fault, so
#     it is also accepted from the not_a_server_error check (ST101), matched the same way.
#   - 405 method_not_allowed on the operations marked x-method-not-allowed: the spec lists each method a path does
#     not take as an operation answering 405 (with Allow), so that every status the server answers is in the spec.
#     Valid data sent there is refused by design (positive_data_acceptance, ST202), and `Allow` lists the methods the
#     path takes, not these (allow_header_conformance, ST205, whose missing methods must all be such operations).
#   - rules across fields or over token counts, which JSON Schema (OpenAPI 3.0's subset) cannot say:
#     text_1 of N > 1 items with a text_2 of another length; rank_fields naming a field a document lacks;
#     truncate: false (or its dialect forms) with a passage that does not fit max_len / max_tokens_per_doc.
#   - normalize: "calibrated" on a model without calibration.json (a property of the served model, not of the body;
#     the normalize field's description says so).
# Anything else a schema-valid body gets refused with is still a failure.
import re

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.openapi.checks import AllowHeaderMismatch, RejectedPositiveData

ACCEPTED_REFUSALS = [
    (504, "deadline_exceeded", re.compile(r"deadline \(timeout_ms\)")),
    (422, "validation", re.compile(r"^body/text_1 has \d+ items and body/text_2 \d+")),
    (422, "validation", re.compile(r"^body/documents/\d+ has no string field .* named in rank_fields$")),
    (422, "validation", re.compile(r"^truncate is false and ")),
    (422, "validation", re.compile(r'^normalize "calibrated": model \S+ has no calibration')),
]


def _accepted(response) -> bool:
    try:
        error = response.json()["error"]
    except Exception:
        return False
    return any(
        response.status_code == status and error.get("type") == kind and pattern.search(error.get("message", ""))
        for status, kind, pattern in ACCEPTED_REFUSALS
    )


NOT_ALLOWED_MARK = "x-method-not-allowed"


def _marked(operation) -> bool:
    """An operation (its raw dict, or schemathesis's APIOperation) the spec lists as answering 405."""
    raw = operation if isinstance(operation, dict) else getattr(getattr(operation, "definition", None), "raw", None)
    return isinstance(raw, dict) and bool(raw.get(NOT_ALLOWED_MARK))


def _not_allowed_by_design(failure, case, response) -> bool:
    """A 405 on an operation the spec lists as answering 405, or an Allow without exactly such methods."""
    if isinstance(failure, RejectedPositiveData):
        return response.status_code == 405 and _marked(case.operation)
    if isinstance(failure, AllowHeaderMismatch):
        item = case.operation.schema[case.operation.path]
        try:
            marked = all(_marked(item[m.lower()]) for m in failure.missing_methods)
        except (KeyError, LookupError):
            return False
        return not failure.undocumented_methods and marked
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a positive-data refusal listed in ACCEPTED_REFUSALS (and the client's own deadline
    answered 504, which not_a_server_error reports too)."""
    own_deadline = isinstance(failure, ServerError) and response.status_code == 504
    if _not_allowed_by_design(failure, case, response):
        return False
    return not ((isinstance(failure, RejectedPositiveData) or own_deadline) and _accepted(response))
