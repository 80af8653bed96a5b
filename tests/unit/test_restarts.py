"""Config restarts, one semantics-table row per case: records in, restart decision out."""

from dataclasses import dataclass, field

import pytest

from rollout_operator.confighash import combined_hash
from rollout_operator.plan import restart_trigger
from rollout_operator.references import Reference
from rollout_operator.restarts import (
    ConfigRecord,
    Observed,
    RestartDecision,
    decide_restart,
    in_force,
    parse_records,
    watched,
)
from rollout_operator.spec import ConfigRef

A = ConfigRef("ConfigMap", "a")
B = ConfigRef("ConfigMap", "b")
S = ConfigRef("Secret", "s")
BOTH = ("ConfigMap", "Secret")


def rec(ref, digest, rv="1", auto=False):
    """A status.configs entry as stored (digest None: recorded absent)."""
    item = {"kind": ref.kind, "name": ref.name, "auto": auto}
    if digest is not None:
        item |= {"hash": digest, "resourceVersion": rv}
    return item


def ref(r, optional=False, where="volumes[v].configMap"):
    return Reference(r.kind, r.name, optional, (where,))


def seen(digest, rv="1", ignore=False):
    return Observed(digest, rv, ignore)


def trigger_for(configs):
    """The annotation a restart with `configs` (status form) writes."""
    return restart_trigger(
        combined_hash({f"{c['kind']}/{c['name']}": c.get("hash", "") for c in configs}), None
    )


@dataclass
class Case:
    """One row: inputs, then the expected decision."""

    explicit: tuple = ()
    discovered: tuple = ()
    auto: tuple = ()
    observed: dict = field(default_factory=dict)
    recorded: list = field(default_factory=list)
    annotation: str | None = None
    rolling: bool = False
    # expected
    due: bool = False
    changed: tuple = ()
    missing: tuple = ()
    configs: list = field(default_factory=list)

    def run(self) -> RestartDecision:
        return decide_restart(
            explicit=self.explicit,
            discovered=self.discovered,
            auto_kinds=self.auto,
            observed=self.observed,
            recorded=self.recorded,
            annotation=self.annotation,
            rolling=self.rolling,
        )


CASES = {
    "first sight is a baseline": Case(
        explicit=(A,), observed={A: seen("h1")},
        configs=[rec(A, "h1")],
    ),
    "nothing changed": Case(
        explicit=(A,), observed={A: seen("h1")}, recorded=[rec(A, "h1")],
        configs=[rec(A, "h1")],
    ),
    "content change restarts once": Case(
        explicit=(A,), observed={A: seen("h2", "2")}, recorded=[rec(A, "h1")],
        due=True, changed=(A,), configs=[rec(A, "h2", "2")],
    ),
    "after the restart's status write: nothing more": Case(
        explicit=(A,), observed={A: seen("h2", "2")}, recorded=[rec(A, "h2", "2")],
        annotation=trigger_for([rec(A, "h2", "2")]),
        configs=[rec(A, "h2", "2")],
    ),
    "metadata-only change: records (and status) untouched": Case(
        explicit=(A,), observed={A: seen("h1", "7")}, recorded=[rec(A, "h1", "1")],
        configs=[rec(A, "h1", "1")],
    ),
    "reference added: baseline, no restart": Case(
        explicit=(A, B), observed={A: seen("h1"), B: seen("hb")}, recorded=[rec(A, "h1")],
        configs=[rec(A, "h1"), rec(B, "hb")],
    ),
    "reference removed: no restart": Case(
        explicit=(A,), observed={A: seen("h1")}, recorded=[rec(A, "h1"), rec(B, "hb")],
        configs=[rec(A, "h1")],
    ),
    "reference removed while its content changed: no restart": Case(
        explicit=(A,), observed={A: seen("h1"), B: seen("hb2")},
        recorded=[rec(A, "h1"), rec(B, "hb")],
        configs=[rec(A, "h1")],
    ),
    "reference added while another changed: only the changed one is named": Case(
        explicit=(A, B, S), observed={A: seen("h2", "2"), B: seen("hb"), S: seen("hs")},
        recorded=[rec(A, "h1"), rec(S, "hs")],
        due=True, changed=(A,), configs=[rec(A, "h2", "2"), rec(B, "hb"), rec(S, "hs")],
    ),
    "two of three changed: exactly those two named": Case(
        explicit=(S, B, A), observed={A: seen("h2"), B: seen("hb"), S: seen("hs2")},
        recorded=[rec(A, "h1"), rec(B, "hb"), rec(S, "hs")],
        due=True, changed=(A, S), configs=[rec(A, "h2"), rec(B, "hb"), rec(S, "hs2")],
    ),
    "required object deleted: blocked, records kept": Case(
        explicit=(A, B), observed={A: None, B: seen("hb2")}, recorded=[rec(A, "h1"), rec(B, "hb")],
        missing=(A,), configs=[rec(A, "h1"), rec(B, "hb")],
    ),
    "re-created with equal content: no restart, record kept": Case(
        explicit=(A,), observed={A: seen("h1", "9")}, recorded=[rec(A, "h1", "1")],
        configs=[rec(A, "h1", "1")],
    ),
    "re-created with different content: one restart": Case(
        explicit=(A,), observed={A: seen("h2", "9")}, recorded=[rec(A, "h1", "1")],
        due=True, changed=(A,), configs=[rec(A, "h2", "9")],
    ),
    "required reference missing from the start: blocked": Case(
        discovered=(ref(A),), auto=BOTH, observed={A: None},
        missing=(A,), configs=[],
    ),
    "optional reference missing: not an error, recorded absent": Case(
        discovered=(ref(A, optional=True),), auto=BOTH, observed={A: None},
        configs=[rec(A, None, auto=True)],
    ),
    "optional object created later: one restart": Case(
        discovered=(ref(A, optional=True),), auto=BOTH, observed={A: seen("h1")},
        recorded=[rec(A, None, auto=True)],
        due=True, changed=(A,), configs=[rec(A, "h1", auto=True)],
    ),
    "optional object deleted: no restart, record kept": Case(
        discovered=(ref(A, optional=True),), auto=BOTH, observed={A: None},
        recorded=[rec(A, "h1", auto=True)],
        configs=[rec(A, "h1", auto=True)],
    ),
    "optional object deleted, another restarts: recorded absent from then on": Case(
        discovered=(ref(A, optional=True), ref(B)), auto=BOTH,
        observed={A: None, B: seen("hb2")},
        recorded=[rec(A, "h1", auto=True), rec(B, "hb", auto=True)],
        due=True, changed=(B,), configs=[rec(A, None, auto=True), rec(B, "hb2", auto=True)],
    ),
    "operator was down during several edits: one restart with the newest content": Case(
        explicit=(A, B), observed={A: seen("h3", "30"), B: seen("hb2", "31")},
        recorded=[rec(A, "h1"), rec(B, "hb")],
        due=True, changed=(A, B), configs=[rec(A, "h3", "30"), rec(B, "hb2", "31")],
    ),
    "crash after the restart patch, before the status write: not again": Case(
        explicit=(A,), observed={A: seen("h2", "2")}, recorded=[rec(A, "h1")],
        annotation=trigger_for([rec(A, "h2")]),
        changed=(A,), configs=[rec(A, "h2", "2")],
    ),
    "crash with restartedAt in the annotation too: not again": Case(
        explicit=(A,), observed={A: seen("h2", "2")}, recorded=[rec(A, "h1")],
        annotation=f"{trigger_for([rec(A, 'h2')])} restartedAt=2026-11-25T10:00:00Z",
        changed=(A,), configs=[rec(A, "h2", "2")],
    ),
    "annotation from an older restart: restart": Case(
        explicit=(A,), observed={A: seen("h3")}, recorded=[rec(A, "h2")],
        annotation=trigger_for([rec(A, "h2")]),
        due=True, changed=(A,), configs=[rec(A, "h3")],
    ),
    "content reverted to an earlier restart's: restart": Case(
        explicit=(A,), observed={A: seen("h1")}, recorded=[rec(A, "h2")],
        annotation=trigger_for([rec(A, "h2")]),
        due=True, changed=(A,), configs=[rec(A, "h1")],
    ),
    "discovered: baseline on first sight": Case(
        discovered=(ref(A), ref(S, where="containers[app].envFrom")), auto=BOTH,
        observed={A: seen("h1"), S: seen("hs")},
        configs=[rec(A, "h1", auto=True), rec(S, "hs", auto=True)],
    ),
    "discovered Secret content change restarts like a ConfigMap": Case(
        discovered=(ref(S, where="containers[app].envFrom"),), auto=BOTH,
        observed={S: seen("hs2")}, recorded=[rec(S, "hs", auto=True)],
        due=True, changed=(S,), configs=[rec(S, "hs2", auto=True)],
    ),
    "auto off for a kind: its discovered references do not count": Case(
        discovered=(ref(A), ref(S)), auto=("ConfigMap",),
        observed={A: seen("h1"), S: seen("hs2")}, recorded=[rec(A, "h1", auto=True)],
        configs=[rec(A, "h1", auto=True)],
    ),
    "auto off entirely: discovered references do not count": Case(
        explicit=(B,), discovered=(ref(A),), observed={A: seen("h2"), B: seen("hb")},
        recorded=[rec(B, "hb")],
        configs=[rec(B, "hb")],
    ),
    "ignored object is left out of discovery": Case(
        discovered=(ref(A), ref(B)), auto=BOTH,
        observed={A: seen("h2", ignore=True), B: seen("hb")},
        recorded=[rec(A, "h1", auto=True), rec(B, "hb", auto=True)],
        configs=[rec(B, "hb", auto=True)],
    ),
    "ignored required object that is missing cannot show it: blocked": Case(
        discovered=(ref(A),), auto=BOTH, observed={A: None},
        missing=(A,),
    ),
    "un-ignored: a new reference, baseline": Case(
        discovered=(ref(A),), auto=BOTH, observed={A: seen("h2")},
        configs=[rec(A, "h2", auto=True)],
    ),
    "explicit names count even when ignored": Case(
        explicit=(A,), discovered=(ref(A),), auto=BOTH,
        observed={A: seen("h2", ignore=True)}, recorded=[rec(A, "h1")],
        due=True, changed=(A,), configs=[rec(A, "h2")],
    ),
    "explicit and discovered: one record, not auto, required": Case(
        explicit=(A,), discovered=(ref(A, optional=True),), auto=BOTH, observed={A: None},
        missing=(A,),
    ),
    "name-hashed ConfigMap renamed in the template: no extra restart": Case(
        discovered=(ref(ConfigRef("ConfigMap", "app-7f9c2")),), auto=BOTH,
        observed={ConfigRef("ConfigMap", "app-7f9c2"): seen("new")},
        recorded=[rec(ConfigRef("ConfigMap", "app-5d4b1"), "old", auto=True)],
        configs=[rec(ConfigRef("ConfigMap", "app-7f9c2"), "new", auto=True)],
    ),
    "becoming explicit flips auto only": Case(
        explicit=(A,), discovered=(ref(A),), auto=BOTH, observed={A: seen("h1", "5")},
        recorded=[rec(A, "h1", auto=True)],
        configs=[rec(A, "h1")],
    ),
    "image rollout while an optional object is deleted: recorded absent": Case(
        discovered=(ref(A, optional=True), ref(B)), auto=BOTH, rolling=True,
        observed={A: None, B: seen("hb", "5")},
        recorded=[rec(A, "h1", auto=True), rec(B, "hb", "1", auto=True)],
        configs=[rec(A, None, auto=True), rec(B, "hb", "5", auto=True)],
    ),
    "image rollout with a content change: still a due restart (same patch)": Case(
        explicit=(A,), rolling=True, observed={A: seen("h2")}, recorded=[rec(A, "h1")],
        due=True, changed=(A,), configs=[rec(A, "h2")],
    ),
    "image rollout alone is no config restart": Case(
        explicit=(A,), rolling=True, observed={A: seen("h1")}, recorded=[rec(A, "h1")],
        configs=[rec(A, "h1")],
    ),
    "Secret hash key re-created (incomparable hashes): new baseline, no restart": Case(
        explicit=(S,), observed={S: seen("hmac-sha256:bbbb2222:" + "9" * 64, "7")},
        recorded=[rec(S, "hmac-sha256:aaaa1111:" + "1" * 64)],
        configs=[rec(S, "hmac-sha256:bbbb2222:" + "9" * 64, "7")],
    ),
    "same Secret hash key, new content: restart": Case(
        explicit=(S,), observed={S: seen("hmac-sha256:aaaa1111:" + "9" * 64, "7")},
        recorded=[rec(S, "hmac-sha256:aaaa1111:" + "1" * 64)],
        due=True, changed=(S,), configs=[rec(S, "hmac-sha256:aaaa1111:" + "9" * 64, "7")],
    ),
    "record from an older hash scheme: new baseline, no restart": Case(
        explicit=(A,), observed={A: seen("sha256:" + "9" * 64, "7")}, recorded=[rec(A, "1" * 64)],
        configs=[rec(A, "sha256:" + "9" * 64, "7")],
    ),
    "incomparable record while another object changed: one restart naming only that one": Case(
        explicit=(A, S), observed={A: seen("h2"), S: seen("hmac-sha256:bbbb2222:x")},
        recorded=[rec(A, "h1"), rec(S, "hmac-sha256:aaaa1111:x")],
        due=True, changed=(A,), configs=[rec(A, "h2"), rec(S, "hmac-sha256:bbbb2222:x")],
    ),
    "no references at all": Case(configs=[]),
    "unreadable records are ignored (a new baseline)": Case(
        explicit=(A,), observed={A: seen("h2")},
        recorded=[None, "x", {"kind": "ConfigMap"}, {"name": "a"}, {"kind": "", "name": "a"}],
        configs=[rec(A, "h2")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_semantics_table(case: Case):
    d = case.run()
    assert (d.due, d.changed, tuple(m.ref for m in d.missing)) == (
        case.due,
        case.changed,
        case.missing,
    )
    if not case.missing:  # blocked: the caller keeps the previous status (asserted below)
        assert d.status_configs() == case.configs
    assert d.config_hash == (
        combined_hash({f"{c.kind}/{c.name}": c.hash or "" for c in d.configs})
        if d.configs
        else None
    )


def test_blocked_decision_keeps_every_record_as_it_was():
    recorded = [rec(A, "h1"), rec(B, "hb"), rec(S, "hs")]
    d = decide_restart(
        explicit=(A, B),
        observed={A: None, B: seen("hb2")},
        recorded=recorded,
        annotation=None,
    )
    assert (bool(d.missing), d.due, d.changed) == (True, False, ())
    assert d.status_configs() == recorded
    assert not d.already_applied


def test_a_change_restarts_exactly_once_over_the_whole_cycle():
    """Edit → restart → status written → annotation present: the next decision is quiet."""
    status = [rec(A, "h1")]
    annotation = None
    restarts = 0
    for observed in ({A: seen("h1")}, {A: seen("h2", "2")}, {A: seen("h2", "2")}):
        d = decide_restart(explicit=(A,), observed=observed, recorded=status, annotation=annotation)
        if d.due:
            restarts += 1
            annotation = restart_trigger(d.config_hash, None)
        status = d.status_configs()
    assert restarts == 1
    assert status == [rec(A, "h2", "2")]


def test_crash_between_patch_and_status_write_is_not_a_second_restart():
    first = decide_restart(
        explicit=(A,), observed={A: seen("h2", "2")}, recorded=[rec(A, "h1")], annotation=None
    )
    assert first.due
    written = restart_trigger(first.config_hash, "2026-11-25T10:00:00Z")  # as plan.py writes it
    # the status write never happened: the same records again, but the annotation is there
    again = decide_restart(
        explicit=(A,), observed={A: seen("h2", "2")}, recorded=[rec(A, "h1")], annotation=written
    )
    assert not again.due
    assert again.already_applied
    assert again.status_configs() == first.status_configs()


def test_delete_then_recreate_cycle_with_equal_content_never_restarts():
    status, annotation = [rec(A, "h1", "1")], None
    for observed in (None, seen("h1", "8")):
        d = decide_restart(
            explicit=(A,), observed={A: observed}, recorded=status, annotation=annotation
        )
        assert not d.due
        if not d.missing:
            status = d.status_configs()
    assert status == [rec(A, "h1", "1")]


def test_change_cause_names_only_changed_objects():
    d = decide_restart(
        explicit=(A, B, S),
        observed={A: seen("h2"), B: seen("hb"), S: seen("hs2")},
        recorded=[rec(A, "h1"), rec(B, "hb"), rec(S, "hs")],
        annotation=None,
    )
    assert d.change_cause == "content of ConfigMap/a, Secret/s changed"


def test_missing_message_says_what_where_and_how_to_fix():
    d = decide_restart(
        explicit=(B,),
        discovered=(ref(A, where="containers[app].envFrom"),),
        auto_kinds=BOTH,
        observed={A: None, B: None},
        recorded=[],
        annotation=None,
    )
    assert d.missing_message("ns") == (
        'ConfigMap "a" (named in containers[app].envFrom), ConfigMap "b" (named in '
        'spec.restartOnChangeOf) not found in namespace "ns"; create them, or remove it from '
        "spec.restartOnChangeOf, or mark the pod template's reference optional: true"
    )
    only_listed = decide_restart(explicit=(B,), observed={B: None}, recorded=[], annotation=None)
    assert only_listed.missing_message("ns") == (
        'ConfigMap "b" (named in spec.restartOnChangeOf) not found in namespace "ns"; '
        "create it, or remove it from spec.restartOnChangeOf"
    )
    assert (
        decide_restart(explicit=(), observed={}, recorded=[], annotation=None).missing_message("ns")
        is None
    )


def test_status_configs_form_absent_objects_have_no_hash():
    d = decide_restart(
        explicit=(B,),
        discovered=(ref(A, optional=True),),
        auto_kinds=BOTH,
        observed={A: None, B: seen("hb", "12")},
        recorded=[],
        annotation=None,
    )
    assert d.status_configs() == [
        {"kind": "ConfigMap", "name": "a", "auto": True},
        {"kind": "ConfigMap", "name": "b", "hash": "hb", "resourceVersion": "12", "auto": False},
    ]
    assert parse_records(d.status_configs()) == {
        A: ConfigRecord("ConfigMap", "a", None, "", True),
        B: ConfigRecord("ConfigMap", "b", "hb", "12", False),
    }


def test_watched_includes_ignored_objects_so_removing_the_annotation_is_seen():
    discovered = (ref(A), ref(S), ref(B))
    assert watched((ConfigRef("Secret", "x"),), discovered, ("ConfigMap",)) == (
        A,
        B,
        ConfigRef("Secret", "x"),
    )
    forced = in_force((), discovered, BOTH, {A: seen("h", ignore=True), B: seen("h"), S: None})
    assert [f.ref for f in forced] == [B, S]


def test_observed_of_reads_resource_version_and_ignore_annotation():
    obj = {
        "metadata": {
            "name": "a",
            "resourceVersion": "42",
            "annotations": {"rollout-operator.dev/ignore": "true"},
        }
    }
    assert Observed.of(obj, "h") == Observed("h", "42", True)
    assert Observed.of({"metadata": {"name": "a"}}, "h") == Observed("h", "", False)


def test_explicit_and_discovered_reference_carries_both_places():
    (forced,) = in_force((A,), (ref(A, optional=True, where="volumes[v].configMap"),), BOTH, {})
    assert (forced.optional, forced.auto) == (False, False)
    assert forced.where == ("spec.restartOnChangeOf", "volumes[v].configMap")
