"""What a recording could not decide: each a value the draft guesses and a question for the maintainer.

The draft file carries each as a ``# TODO(maintainer): ...`` comment on the guessed line, so the file loads
as it is; ``mapay profile check`` lists the comments still present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TODO_MARK = "TODO(maintainer)"


@dataclass(frozen=True)
class Decision:
    path: str
    """Dotted path of the guessed value in the profile, e.g. ``transactions.fields.amount.unit``."""
    question: str
    guess: Any
    candidates: list[Any] = field(default_factory=list)
