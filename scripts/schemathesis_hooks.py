# Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).
#
# Every check runs. One hook, filter_failure, accepts a few refusals of schema-valid bodies by the
# positive_data_acceptance check (ST202), each matched on its status, error type and message, because the request
# is refused for a reason OpenAPI 3.0 cannot state, and the spec says so in words (descriptions) instead:
#   - 408 timeout: the request's own timeout_ms passed before it was scored (a deadline the client chose; the
#     spec declares 408 on every route whose body takes timeout_ms). Not a 5xx: not_a_server_error holds.
#   - rules across fields or over token counts, which JSON Schema (OpenAPI 3.0's subset) cannot say:
#     text_1 of N > 1 items with a text_2 of another length; rank_fields naming a field a document lacks;
#     truncate: false (or its dialect forms) with a passage that does not fit max_len / max_tokens_per_doc.
#   - normalize: "calibrated" on a model without calibration.json (a property of the served model, not of the body;
#     the normalize field's description says so).
# Anything else a schema-valid body gets refused with is still a failure.
import re

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

ACCEPTED_REFUSALS = [
    (408, "timeout", re.compile(r"deadline \(timeout_ms\)")),
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


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a positive-data refusal listed in ACCEPTED_REFUSALS."""
    return not (isinstance(failure, RejectedPositiveData) and _accepted(response))
