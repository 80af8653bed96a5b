"""When a ConfigMap/Secret restarts a workload: per-object records, not one hash over a list.

Pure: the references in force, what is observed of each, what ``status.configs`` recorded
and the workload's restart annotation in; a `RestartDecision` out. ``status.configs`` holds,
per referenced object, the content hash the workload was last restarted with (or adopted
at). Comparing object by object is what lets adding or removing a reference restart
nothing and the restart message name only the objects whose content changed.

Semantics (docs/config-restarts.md has the same table for users):

=============================================  ===========================================
what happens                                   result
=============================================  ===========================================
reference added (spec list or pod template)    baseline recorded, no restart
reference removed                              record dropped, no restart
content (data/binaryData) changed              one restart; message names that object only
metadata-only change                           nothing (not even a status write)
object deleted                                 no restart; its record is kept while missing;
                                               required: Blocked/ConfigNotFound meanwhile
re-created, equal content                      no restart
re-created, different content                  one restart
optional reference to a missing object         not an error; recorded as absent
that object created later                      one restart (the pods started without it)
required reference to a missing object         Blocked/ConfigNotFound, nothing else decided
operator down during changes                   one restart at start (records are persisted)
immutable ConfigMap                            as above: only delete/re-create can change it
name-hashed ConfigMap (configMapGenerator)     new name = new reference (baseline); the
                                               template change rolls the pods by itself
Secret hash key re-created (incomparable hash)  new baseline, no restart
crash between workload patch and status write  the annotation already carries the new
                                               content's hash: not restarted again
image change or new restartedAt (``rolling``)  records become what the new pods start with
=============================================  ===========================================

In force: every explicit name (``spec.restartOnChangeOf``, always required), plus, for the
kinds in ``auto_kinds``, every object `references.discover` found in the pod template,
except present objects annotated ``rollout-operator.dev/ignore: "true"`` (an object that
is missing cannot show the annotation, so it counts until it appears with it).

How the controller calls this (decide.py):

1. Observe every ref in `watched(...)` (ignored ones too: the annotation may go away):
   ``Observed.of(obj, hash)`` when it exists (metadata-only watch + GET for the hash; Secret
   hashes keyed), ``None`` when it does not. Keep `references.discover(template)` per
   workload instead of the template (the slim store drops volumes and env).
2. ``d = decide_restart(explicit=spec.configs, discovered=<kept references>,
   auto_kinds=<"ConfigMap"/"Secret" per spec auto>, observed=..., recorded=status["configs"],
   annotation=<the workload's rollout-operator.dev/restart, or None>,
   rolling=<the same patch changes images or restartedAt>)``.
3. ``d.missing``: block (reason ConfigNotFound, ``d.missing_message(namespace)``) and keep
   the previous status; ``d.configs`` then equals the records anyway.
4. ``d.due``: write ``restart_trigger(d.config_hash, spec.restarted_at)`` as the annotation
   (after the debounce; in the same patch as any image change) and post RestartTriggered
   with ``d.change_cause``. A restart for a new restartedAt writes the same expression.
   Never compare the annotation with a fresh trigger to decide a *config* restart: adding
   a reference changes ``config_hash`` without making a restart due.
5. Write ``d.status_configs()`` to ``status.configs`` and ``d.config_hash`` to
   ``status.configHash`` with the rest of the status.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .confighash import combined_hash, comparable
from .plan import restart_trigger
from .references import Reference, is_ignored
from .spec import ConfigRef

#: `InForce.where` of an explicitly listed name.
EXPLICIT = "spec.restartOnChangeOf"


@dataclass(frozen=True)
class Observed:
    """A referenced ConfigMap/Secret as it exists now (absent ones are ``None``)."""

    hash: str  # content hash (keyed for Secrets)
    resource_version: str = ""
    ignore: bool = False  # annotated rollout-operator.dev/ignore: "true"

    @classmethod
    def of(cls, obj: Mapping[str, Any], content_hash: str) -> Observed:
        """From the object's metadata (a metadata-only watch event is enough) and its hash."""
        meta = obj.get("metadata") or {}
        return cls(content_hash, str(meta.get("resourceVersion") or ""), is_ignored(obj))


@dataclass(frozen=True, order=True)
class ConfigRecord:
    """One ``status.configs`` entry: the content the workload was last (re)started with."""

    kind: str
    name: str
    #: None: the object did not exist then (only ever for optional references).
    hash: str | None
    resource_version: str = ""
    #: In force only through discovery (not listed in spec.restartOnChangeOf).
    auto: bool = False

    @property
    def ref(self) -> ConfigRef:
        return ConfigRef(self.kind, self.name)

    def to_status(self) -> dict[str, Any]:
        item: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.hash is not None:
            item["hash"] = self.hash
            if self.resource_version:
                item["resourceVersion"] = self.resource_version
        item["auto"] = self.auto
        return item

    @classmethod
    def from_status(cls, item: Any) -> ConfigRecord | None:
        """Read one entry leniently; None for an entry that names nothing."""
        if not isinstance(item, Mapping):
            return None
        kind, name = item.get("kind"), item.get("name")
        if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
            return None
        digest = item.get("hash")
        return cls(
            kind,
            name,
            digest if isinstance(digest, str) and digest else None,
            str(item.get("resourceVersion") or ""),
            item.get("auto") is True,
        )


def parse_records(items: Any) -> dict[ConfigRef, ConfigRecord]:
    """``status.configs`` by reference (the last entry wins for a duplicate)."""
    records = (ConfigRecord.from_status(item) for item in (items or []))
    return {record.ref: record for record in records if record is not None}


@dataclass(frozen=True)
class InForce:
    """A ConfigMap/Secret whose content restarts the workload."""

    ref: ConfigRef
    optional: bool  # explicit names are never optional
    auto: bool  # only discovered, not listed
    where: tuple[str, ...]


def _discovered(
    discovered: Iterable[Reference], auto_kinds: Collection[str]
) -> dict[ConfigRef, Reference]:
    return {ConfigRef(r.kind, r.name): r for r in discovered if r.kind in auto_kinds}


def watched(
    explicit: Iterable[ConfigRef], discovered: Iterable[Reference], auto_kinds: Collection[str]
) -> tuple[ConfigRef, ...]:
    """What the controller must observe for one Rollout (the store's index for it)."""
    refs = set(explicit) | set(_discovered(discovered, auto_kinds))
    return tuple(sorted(refs, key=lambda r: (r.kind, r.name)))


def in_force(
    explicit: Iterable[ConfigRef],
    discovered: Iterable[Reference],
    auto_kinds: Collection[str],
    observed: Mapping[ConfigRef, Observed | None],
) -> tuple[InForce, ...]:
    """The references that count now, sorted by kind and name."""
    found = _discovered(discovered, auto_kinds)
    listed = set(explicit)
    result = []
    for ref in watched(listed, found.values(), auto_kinds):
        seen = observed.get(ref)
        if ref in listed:
            extra = found[ref].where if ref in found else ()
            result.append(InForce(ref, False, False, (EXPLICIT, *extra)))
        elif seen is None or not seen.ignore:
            result.append(InForce(ref, found[ref].optional, True, found[ref].where))
    return tuple(result)


@dataclass(frozen=True)
class RestartDecision:
    """What config content asks of the workload now."""

    #: Write the restart annotation now.
    due: bool
    #: Objects whose content differs from their record, sorted: all a message may name.
    changed: tuple[ConfigRef, ...]
    #: Required references to absent objects: block (ConfigNotFound), decide nothing else.
    missing: tuple[InForce, ...]
    #: The new status.configs (the records themselves while blocked).
    configs: tuple[ConfigRecord, ...]
    #: One hash over `configs`: status.configHash, and the annotation's config part.
    config_hash: str | None

    @property
    def already_applied(self) -> bool:
        """Content changed, but the workload already carries it (crash after the patch)."""
        return bool(self.changed) and not self.due and not self.missing

    @property
    def change_cause(self) -> str:
        """Why the restart: ``content of ConfigMap/a, Secret/b changed``."""
        return "content of " + ", ".join(map(str, self.changed)) + " changed"

    def status_configs(self) -> list[dict[str, Any]]:
        """`configs` as ``status.configs``."""
        return [record.to_status() for record in self.configs]

    def missing_message(self, namespace: str) -> str | None:
        """The ConfigNotFound message: which objects, where they are named, what to do."""
        if not self.missing:
            return None
        names = ", ".join(
            f'{m.ref.kind} "{m.ref.name}" (named in {", ".join(m.where)})' for m in self.missing
        )
        fixes = ["create it" if len(self.missing) == 1 else "create them"]
        if any(EXPLICIT in m.where for m in self.missing):
            fixes.append("remove it from spec.restartOnChangeOf")
        if any(m.auto for m in self.missing):
            fixes.append("mark the pod template's reference optional: true")
        return f'{names} not found in namespace "{namespace}"; ' + ", or ".join(fixes)


def _combined(records: Iterable[ConfigRecord]) -> str | None:
    hashes = {str(r.ref): r.hash or "" for r in records}
    return combined_hash(hashes) if hashes else None


def _applied(annotation: str | None, config_hash: str | None) -> bool:
    """Whether the annotation already carries `config_hash` (its config part, see plan.py)."""
    token = restart_trigger(config_hash, None)
    return token is not None and token in (annotation or "").split()


def _incomparable(before: ConfigRecord, now: ConfigRecord) -> bool:
    """Both present but hashed differently (another Secret hash key, an older scheme)."""
    return (
        before.hash is not None and now.hash is not None and not comparable(before.hash, now.hash)
    )


def _changed(before: ConfigRecord | None, now: ConfigRecord) -> bool:
    """Present content that differs from its record; absence never is a change, and a
    hash made another way cannot tell (it becomes the new baseline instead)."""
    if before is None or now.hash is None:
        return False
    return before.hash != now.hash and not _incomparable(before, now)


def _sorted(records: Iterable[ConfigRecord]) -> tuple[ConfigRecord, ...]:
    return tuple(sorted(records, key=lambda r: (r.kind, r.name)))


def decide_restart(
    *,
    explicit: Sequence[ConfigRef],
    discovered: Iterable[Reference] = (),
    auto_kinds: Collection[str] = (),
    observed: Mapping[ConfigRef, Observed | None],
    recorded: Any,
    annotation: str | None,
    rolling: bool = False,
) -> RestartDecision:
    """Decide whether config content restarts the workload, and the new ``status.configs``.

    `recorded` is ``status.configs`` as stored (read leniently); `observed` must hold every
    ref of `watched(...)` (``None``: does not exist); `annotation` is the workload's
    ``rollout-operator.dev/restart`` value now (``None``: absent); `rolling`: the same
    decision replaces the pods anyway (new images, a new restartedAt), so the records
    become what they start with (absent optional objects included).
    """
    records = parse_records(recorded)
    refs = in_force(explicit, discovered, auto_kinds, observed)
    missing = tuple(f for f in refs if observed.get(f.ref) is None and not f.optional)
    if missing:
        kept = _sorted(records.values())
        return RestartDecision(False, (), missing, kept, _combined(kept))

    def now(f: InForce) -> ConfigRecord:
        seen = observed.get(f.ref)
        if seen is None:
            return ConfigRecord(f.ref.kind, f.ref.name, None, "", f.auto)
        return ConfigRecord(f.ref.kind, f.ref.name, seen.hash, seen.resource_version, f.auto)

    current = [now(f) for f in refs]
    changed = tuple(c.ref for c in current if _changed(records.get(c.ref), c))
    if changed or rolling:
        # The pods (re)start with everything as it is now, absent optional objects included.
        configs = _sorted(current)
        config_hash = _combined(configs)
        due = bool(changed) and not _applied(annotation, config_hash)
        return RestartDecision(due, changed, (), configs, config_hash)

    kept_or_new = []
    for c in current:
        before = records.get(c.ref)
        if before is None or _incomparable(before, c):
            kept_or_new.append(c)  # new reference (or new hash scheme): a baseline
        else:  # same content, or absent for now: keep what the pods run with
            kept_or_new.append(
                ConfigRecord(c.kind, c.name, before.hash, before.resource_version, c.auto)
            )
    configs = _sorted(kept_or_new)
    return RestartDecision(False, (), (), configs, _combined(configs))
