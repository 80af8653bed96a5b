"""Which scenarios run, and their results: a crash fails its scenario, the others go on."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from .report import ScenarioResult
from .scenarios import SCENARIOS


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Runner:
    def __init__(self, selected: list[str]) -> None:
        unknown = set(selected) - set(SCENARIOS)
        if unknown:
            raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {list(SCENARIOS)}")
        self.selected = selected
        self.results = {name: ScenarioResult(name, title) for name, (_, title) in SCENARIOS.items()}

    def wanted(self, *names: str) -> bool:
        return any(name in self.selected for name in names)

    def ok(self, name: str) -> bool:
        return self.results[name].ok

    @contextmanager
    def scenario(self, *names: str, what: str = "") -> Iterator[None]:
        """Times the block (for the first of `names`); an exception in it fails every one of
        `names` still selected."""
        chosen = [self.results[n] for n in names if n in self.selected]
        what = what or names[0]
        log(what)
        start = time.monotonic()
        try:
            yield
        except Exception:
            error = traceback.format_exc()
            log(f"{what} FAILED:\n{error}")
            for result in chosen:
                result.ok, result.error = False, (result.error + "\n" + error).strip()
        finally:
            self.results[names[0]].seconds += time.monotonic() - start
        log(f"{what} done in {time.monotonic() - start:.0f} s")

    def chosen(self) -> list[ScenarioResult]:
        return [self.results[name] for name in SCENARIOS if name in self.selected]
