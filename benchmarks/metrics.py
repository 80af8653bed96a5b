"""Prometheus text → samples, and the request counts the report is made of."""

from __future__ import annotations

import re
from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families

#: (sample name, sorted label items) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

OPERATOR_REQUESTS = "rollout_operator_api_request_duration_seconds_count"
APISERVER_REQUESTS = "apiserver_request_total"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION")
_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


def parse_selected(text: str, names: Sequence[str]) -> Samples:
    """Only the labelled samples of `names` (the apiserver's /metrics is megabytes)."""
    samples: Samples = {}
    prefixes = tuple(name + "{" for name in names)
    for line in text.splitlines():
        if line.startswith(prefixes) and (match := _SAMPLE.match(line)):
            labels = tuple(sorted(_LABEL.findall(match.group(2))))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def delta(after: Samples, before: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def total(samples: Samples, name: str, **labels: str | Sequence[str]) -> float:
    """Sum of the samples of `name` whose labels match (a value or any of a sequence)."""
    result = 0.0
    for (sample_name, items), value in samples.items():
        have = dict(items)
        if sample_name == name and all(
            have.get(k) in ((v,) if isinstance(v, str) else tuple(v)) for k, v in labels.items()
        ):
            result += value
    return result


def operator_requests(before: Samples, after: Samples, *, codes: bool = True) -> dict[str, float]:
    """The operator's own requests between two scrapes, by 'verb resource [code]'.

    From rollout_operator_api_request_duration_seconds_count; watches are not requests
    there (the operator counts them as watch restarts)."""
    counts: dict[str, float] = {}
    for (name, labels), value in delta(after, before).items():
        if name == OPERATOR_REQUESTS:
            have = dict(labels)
            key = f"{have.get('verb')} {have.get('resource')}"
            key += f" {have.get('code')}" if codes else ""
            counts[key] = counts.get(key, 0) + value
    return dict(sorted(counts.items()))


def writes(requests: dict[str, float]) -> float:
    """Writes among operator_requests() keys."""
    verbs = ("patch", "create", "update", "delete", "post", "put")
    return sum(v for k, v in requests.items() if k.split()[0].lower() in verbs)


def apiserver_writes(change: Samples) -> dict[str, float]:
    """apiserver write requests by 'VERB resource[/subresource]' from a delta."""
    counts: dict[str, float] = {}
    for (name, labels), value in change.items():
        have = dict(labels)
        if name != APISERVER_REQUESTS or have.get("verb") not in WRITE_VERBS:
            continue
        sub = have.get("subresource")
        key = f"{have['verb']} {have.get('resource', '')}" + (f"/{sub}" if sub else "")
        counts[key] = counts.get(key, 0) + value
    return dict(sorted(counts.items()))
