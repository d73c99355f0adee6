"""The building blocks of the profile format: strict models, a test on a JSON answer, an HTTP call."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.profiles.template import dig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def exactly_one(model: BaseModel, names: tuple[str, ...]) -> str:
    """Exactly one of ``names`` is set; returns it."""
    chosen = [name for name in names if getattr(model, name) is not None]
    if len(chosen) != 1:
        raise ValueError(f"set exactly one of {', '.join(names)} (got {', '.join(chosen) or 'none'})")
    return chosen[0]


class Condition(Strict):
    """A test on a JSON answer: the value at ``path`` equals / is one of / contains something."""

    path: str
    equals: Any = None
    one_of: list[Any] | None = None
    contains: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        exactly_one(self, ("equals", "one_of", "contains"))
        return self

    def matches(self, data: Any) -> bool:
        try:
            value = dig(data, self.path)
        except KeyError:
            return False
        if self.equals is not None:
            return str(value) == str(self.equals)
        if self.one_of is not None:
            return str(value) in {str(v) for v in self.one_of}
        return self.contains is not None and self.contains in str(value)


class Request(Strict):
    """An HTTP call made with the account's browser session (cookies shared with its pages)."""

    method: Literal["GET", "POST"] = "GET"
    url: str
    """Path under the base URL (or an absolute URL); placeholders allowed."""
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        if self.json_body is not None and self.form is not None:
            raise ValueError("set json or form, not both")
        return self
