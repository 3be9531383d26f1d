"""The verdict rules of :mod:`gsepconv.report.claims`: how one comparison counts for a claim, and
how several comparisons combine into one verdict.

A claim is tested by one or more comparisons. Each comparison *supports* the claim, *ties*, goes
*against* it, or is *undetermined* (:func:`comparison_support`). Accuracy is compared by seed:
both models train on the same seeds, and the 95 % Student-t interval of the per-seed difference
(:mod:`gsepconv.experiments.stats`) decides — "higher" or "lower" when it excludes 0, a tie when it
contains 0. Fewer than two paired seeds give no interval: that comparison is undetermined,
whatever the difference. (Only where seeds cannot be paired does Welch's unpaired interval stand
in, and the evidence says so.) The comparisons combine (:func:`combine`) into one verdict:

``reproduced``
    every decided comparison supports the claim;
``partly``
    some support it and none goes against it (the rest are ties: a tie is no win);
``mixed``
    some support it and some go against it: the results disagree with each other;
``not reproduced``
    none supports it (ties and/or comparisons against it);
``undetermined``
    no comparison is decided (one seed; or the input is missing);
``not comparable``
    the number belongs to a different protocol (e.g. the leaderboard's full-data, 300-epoch
    Sim(2) error against a CPU profile's few epochs).

``" where decidable"`` follows a verdict when some comparisons were undetermined: it rests on the
decided ones alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gsepconv.report.comparisons import Comparison

__all__ = ["VERDICTS", "ClaimCheck", "comparison_support", "combine"]

#: The verdicts :func:`combine` gives (see the module docstring), strongest first.
VERDICTS = ("reproduced", "partly", "mixed", "not reproduced", "undetermined", "not comparable")

#: the confounders of a check whose input is missing
MISSING = "none assessed: the input is missing"


@dataclass(frozen=True)
class ClaimCheck:
    """One claim against our numbers; ``confounders``: what else could explain them."""

    number: int
    claim: str
    evidence: str
    verdict: str
    confounders: str
    inputs: tuple[str, ...]

    def as_row(self) -> dict[str, object]:
        return {
            "claim": self.number,
            "statement": self.claim,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "confounders": self.confounders,
            "inputs": ", ".join(self.inputs),
        }


def comparison_support(c: Comparison, need_faster: bool = True) -> str:
    """Does comparison ``c`` (a = the claimed better model) go the claim's way? ``"supports"``:
    faster (when ``need_faster``) and more accurate, the paired interval of the accuracy
    difference above 0 — the claims say "beat" and "improves"; ``"ties"``: faster but the interval
    contains 0; ``"against"``: slower, or the interval below 0; ``"undetermined"``: fewer than two
    paired seeds, no interval."""
    if need_faster and c.speedup <= 1:
        return "against"
    verdict = c.accuracy_verdict
    if verdict == "one seed":
        return "undetermined"
    return {"higher": "supports", "indistinguishable": "ties"}.get(verdict, "against")


def combine(supports: Sequence[str]) -> str:
    """One verdict from several comparisons' :func:`comparison_support` values: ``reproduced``
    (every decided one supports), ``partly`` (some support, none against, the rest ties),
    ``mixed`` (some support, some against), ``not reproduced`` (none supports), ``undetermined``
    (none decided); ``" where decidable"`` is appended when some comparisons are undetermined."""
    unknown = sorted(set(supports) - {"supports", "ties", "against", "undetermined"})
    if unknown:
        raise ValueError(f"combine takes 'supports', 'ties', 'against' or 'undetermined', got {unknown}")
    decided = [s for s in supports if s != "undetermined"]
    if not decided:
        return "undetermined"
    wins, losses = decided.count("supports"), decided.count("against")
    if wins == len(decided):
        verdict = "reproduced"
    elif wins and not losses:
        verdict = "partly"
    elif wins:
        verdict = "mixed"
    else:
        verdict = "not reproduced"
    return verdict if len(decided) == len(supports) else verdict + " where decidable"
