"""Exercise checks: instant feedback in the notebook, the same checks in pytest.

An exercise in a notebook is a code cell holding the reference solution
between nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers,
followed by a cell that calls ``check("name", obj)``. The checks themselves
live here, one module per notebook (``nb00_why.py``, ``nb01_handshake.py``,
...), each registering its exercises with ``@exercise``::

    @exercise("accept_key", notebook="01_handshake")
    def _(accept_key):
        yield case("RFC 6455 example", lambda: accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
                   "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", hint="SHA-1 of key + GUID, then base64")

A checker receives the learner's object and yields ``Result``s (``case``
builds one and turns exceptions into readable failures). It may also be an
``async def`` returning a list, for checks that need a live connection.

``check()`` prints a pass/fail table (HTML in Jupyter) and also emits the
results as ``application/vnd.wslearn.check+json``, which is what the grader
(``wslearn.grading``) reads back from an executed notebook.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import inspect
import os
import pkgutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

MIME = "application/vnd.wslearn.check+json"
NOT_WRITTEN = "not written yet: replace `raise NotImplementedError` with your solution"
DOES_NOTHING = (
    "an answer that does nothing passes this case too: it counts once a case that needs "
    "your code to act passes"
)
SAME_ANSWER = (
    "your code gave the same answer, {answer}, for every case, though the right answers differ: "
    "it has to work the answer out from its arguments"
)


#: one answer as ``depends_on_input`` sees it: digests of the answer and of the expected value,
#: and the answer in short (for the message)
Seen = tuple[str, str, str]


@dataclass(frozen=True)
class Result:
    """The outcome of one case of one exercise."""

    case: str
    passed: bool
    message: str = ""  # for a failure: what went wrong and a hint
    #: an answer that does nothing passes this case too (it expects None, False, 0, an empty
    #: value, or input left as it was): it earns its point only beside a case that needs action
    vacuous: bool = False
    #: what the learner's code answered in this case and what was right, one entry per call
    #: compared (see ``seen``), so ``run_checker`` can tell an answer that ignores its input
    seen: tuple[Seen, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Exercise:
    name: str
    notebook: str
    checker: Callable[[Any], Any]
    summary: str = ""
    #: library callables (``"wslearn.handshake.accept_key"``) whose use is the answer, not a
    #: solution: the checks and the grader fail a solution that calls them (see ``shortcuts``)
    shortcuts: tuple[str, ...] = ()


@dataclass
class Report:
    """All results of one ``check()`` call; truthy when every case passed."""

    exercise: str
    results: list[Result] = field(default_factory=list)
    max_points: float = 1.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def points(self) -> float:
        """Partial credit, as the gradebook gives it: cases passed / cases, times the weight."""
        if not self.results:
            return 0.0
        score = sum(r.passed for r in self.results)
        return round(self.max_points * score / len(self.results), 2)

    def _score(self) -> str:
        score = sum(r.passed for r in self.results)
        return (
            f"{score}/{len(self.results)} cases passed, "
            f"{self.points:g}/{self.max_points:g} point{'s' * (self.max_points != 1)}"
        )

    def __bool__(self) -> bool:
        return self.passed

    def to_json(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "passed": self.passed,
            "points": self.points,
            "max_points": self.max_points,
            # what a result says, not how run_checker weighed it (``vacuous``)
            "results": [
                {"case": r.case, "passed": r.passed, "message": r.message} for r in self.results
            ],
        }

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {self._score()}"]
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            lines.append(f"  {mark}  {r.case}" + (f"  → {r.message}" if not r.passed else ""))
        if self.passed:
            lines.append("  Well done!")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'✅' if r.passed else '❌'}</td><td>{html.escape(r.case)}</td>"
            f"<td>{'' if r.passed else html.escape(r.message)}</td></tr>"
            for r in self.results
        )
        verdict = "Well done!" if self.passed else "Not yet: read the hints and try again."
        return (
            f"<b>{html.escape(self.exercise)}</b>: {html.escape(self._score())}. "
            f"{verdict}<table><tr><th></th><th>case</th><th>hint</th></tr>{rows}</table>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return {"text/plain": str(self), "text/html": self._repr_html_(), MIME: self.to_json()}


_REGISTRY: dict[str, Exercise] = {}
_loaded = False


def exercise(
    name: str, *, notebook: str, summary: str = "", shortcuts: tuple[str, ...] | list[str] = ()
) -> Callable[[Callable], Callable]:
    """Register the checker of exercise ``name`` (one per name) and its ``shortcuts``."""

    def register(checker: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if name in _REGISTRY and _REGISTRY[name].checker is not checker:
            raise ValueError(f"exercise {name!r} is registered twice")
        _REGISTRY[name] = Exercise(
            name, notebook, checker, summary or (checker.__doc__ or ""), tuple(shortcuts)
        )
        return checker

    return register


def registry() -> dict[str, Exercise]:
    """Every exercise of the course, by name (imports the check modules once)."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if module.name.startswith("nb"):  # check modules: nb00_why, nb01_handshake, ...
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return dict(_REGISTRY)


def for_notebook(notebook: str) -> list[str]:
    """Names of the exercises that belong to ``notebook`` (its file stem).

    A renamed copy still matches by its number: ``01_handshake (Ada)`` is
    notebook ``01_handshake``.
    """
    exercises = registry().values()
    exact = [e.name for e in exercises if e.notebook == notebook]
    number = notebook.split("_", 1)[0]
    if exact or not number.isdigit():
        return exact
    return [e.name for e in exercises if e.notebook.split("_", 1)[0] == number]


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return NOT_WRITTEN
    if type(exc).__name__ == "ShortcutUsed":  # its message is the whole story
        return str(exc)
    from wslearn.exercises.sandbox import SandboxBroken

    if isinstance(exc, SandboxBroken):  # graded code that hung or died: the reason says which
        return str(exc)
    if hasattr(exc, "student_line"):  # raised by a student's code across the grading boundary
        line = exc.student_line
        return f"raised {type(exc).__name__}: {exc}" + (f" (line {line})" if line else "")
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (line {frame[0].lineno})" if frame else ""
    return f"raised {type(exc).__name__}: {exc}{where}"


_MISSING = object()


def case(
    description: str,
    compute: Callable[[], Any],
    expected: Any = _MISSING,
    *,
    hint: str = "",
    compare: Callable[[Any, Any], bool] | None = None,
    diagnose: Callable[[Any], str | None] | None = None,
    vacuous: bool | None = None,
    view: Callable[[Any], Any] | None = None,
    calls: bool = False,
    effect: bool = False,
) -> Result:
    """Run one case: call ``compute()`` and compare with ``expected``.

    With ``expected`` omitted, ``compute`` passes when it returns a truthy
    value. Exceptions become failures that name the exception, so a learner
    sees "raised KeyError: 'Upgrade'" rather than a traceback. A failure
    shows what the learner's code returned, never the expected answer, and
    then ``diagnose(got)`` (the known mistake that gives this value, see
    ``wslearn.exercises.mistakes``) or, failing that, ``hint``.

    A case that expects an empty value (None, False, 0, ``""``, ``[]``, ...) is
    ``vacuous`` unless told otherwise: an answer that does nothing passes it
    too, so it earns its point only beside a case that needs action (see
    ``run_checker``). Say ``vacuous=True`` for other such cases: a value that
    equals an argument, a check that any answer of the right type passes.

    The result keeps what the learner's code answered (``Result.seen``), so an
    answer that ignores its input earns nothing (``depends_on_input``):

    - ``view(answer)``, when given, is the part of ``compute()``'s value that is
      compared, diagnosed and shown (a close payload's code and reason, a
      schedule's last delay); ``seen`` keeps the whole answer.
    - ``calls=True``: ``compute`` returns the answers of several calls (a ticket
      redeemed twice, two questions asked at once) and ``expected`` the right
      one of each; every call counts as one answer.
    - ``effect=True``: the case compares an effect of the code (what an echo
      server sent back, ``bufferedAmount``), not a value it returned, so there
      is no answer to keep.
    """
    if vacuous is None:
        vacuous = expected is not _MISSING and _empty(expected)
    try:
        answer = compute()
        got = answer if view is None else view(answer)
    except NotImplementedError:
        return Result(description, False, NOT_WRITTEN)  # no hint yet: nothing was tried
    except Exception as exc:
        if type(exc).__name__ == "ShortcutUsed":
            return Result(description, False, describe_error(exc))
        return Result(description, False, _join(describe_error(exc), hint))
    if expected is _MISSING:
        return Result(description, bool(got), "" if got else hint, vacuous)
    seen = () if effect else answered(answer, expected, calls=calls)
    same = compare(got, expected) if compare else got == expected
    if same:
        return Result(description, True, vacuous=vacuous, seen=seen)
    diagnosis = None
    if diagnose is not None:
        try:
            diagnosis = diagnose(got)
        except Exception:  # a learner's odd value must not break the check
            diagnosis = None
    return Result(description, False, _join(f"got {_short(got)}", diagnosis or hint), seen=seen)


def raises(
    description: str,
    compute: Callable[[], Any],
    error: type[BaseException] | tuple[type[BaseException], ...],
    *,
    hint: str = "",
    where: Callable[[BaseException], bool] = lambda exc: True,
) -> Result:
    """Run one case that must raise ``error`` (and satisfy ``where``)."""
    try:
        got = compute()
    except NotImplementedError as exc:
        if isinstance(error, type) and issubclass(NotImplementedError, error):
            return Result(description, where(exc), hint)
        return Result(description, False, NOT_WRITTEN)
    except error as exc:
        return Result(description, where(exc), "" if where(exc) else hint)
    except Exception as exc:
        return Result(description, False, _join(describe_error(exc), hint))
    return Result(description, False, _join(f"returned {_short(got)} instead of raising", hint))


def _empty(value: Any) -> bool:
    """None, or a falsy value of a built-in type: what an answer that does nothing returns."""
    simple = bool | int | float | str | bytes | list | tuple | dict | set | frozenset
    return value is None or (isinstance(value, simple) and not value)


def needs_action(results: list[Result]) -> list[Result]:
    """``results`` with the vacuous passes failed when no case that needs action passed.

    A grade a teacher can trust gives nothing for ``return None``: "returns
    False for a closed socket" proves something only once "returns True and
    sends when open" passes too. So a vacuous case keeps its pass only beside
    a passed case that is not vacuous; the failures keep their own messages.
    """
    if any(r.passed and not r.vacuous for r in results):
        return results
    return [replace(r, passed=False, message=DOES_NOTHING) if r.passed else r for r in results]


def answered(got: Any, expected: Any, *, calls: bool = False) -> tuple[Seen, ...]:
    """What ``Result.seen`` keeps of the answer ``got`` to a case that expected ``expected``.

    For a check that builds its ``Result`` itself (a live one, or one with its
    own messages) rather than through ``case``. ``calls`` as in ``case``: two
    lists of the same length, one entry per call of the learner's code.
    """
    if (
        calls
        and isinstance(got, list | tuple)
        and isinstance(expected, list | tuple)
        and len(got) == len(expected)
    ):
        return tuple(one for g, e in zip(got, expected, strict=True) for one in answered(g, e))
    return ((_digest(got), _digest(expected), _short(got)),)


def depends_on_input(results: list[Result]) -> list[Result]:
    """``results`` with every pass failed when the answer ignored its input.

    A hard-coded value (the RFC's accept key, "always 400") passes the cases
    that happen to expect it. When the cases that compare a value expect
    different values but got one and the same answer, that answer cannot have
    come from the arguments: it earns nothing.
    """
    seen = [one for r in results for one in r.seen]
    answers = {answer for answer, _, _ in seen}
    expected = {want for _, want, _ in seen}
    if len(seen) < 2 or len(answers) != 1 or len(expected) < 2:
        return results
    message = SAME_ANSWER.format(answer=seen[0][2])
    return [replace(r, passed=False, message=message) if r.passed else r for r in results]


def _digest(value: Any) -> str:
    text = repr(_canonical(value))
    return hashlib.blake2b(text.encode(errors="replace"), digest_size=16).hexdigest()


def _canonical(value: Any) -> Any:
    """``value`` with sets and dicts in a fixed order: equal values get equal digests."""
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted((_canonical(v) for v in value), key=repr))
    if isinstance(value, dict):
        items = ((_canonical(k), _canonical(v)) for k, v in value.items())
        return ("dict", sorted(items, key=repr))
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, tuple):  # a named tuple equals the plain one
        return tuple(_canonical(v) for v in value)
    return value


def _short(value: Any, limit: int = 80) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def run_checker(name: str, obj: Any) -> Report:
    """Run exercise ``name``'s checks on ``obj`` and return the report (no display)."""
    exercises = registry()
    if name not in exercises:
        raise KeyError(f"no exercise named {name!r}; known: {', '.join(sorted(exercises))}")
    from wslearn.exercises.shortcuts import reason, tripwires

    report = Report(name)
    with tripwires(exercises[name].shortcuts, obj) as used:
        try:
            outcome = exercises[name].checker(obj)
            if inspect.isawaitable(outcome):
                from wslearn.jupyter import run

                outcome = run(outcome)
            for result in outcome:
                report.results.append(result)
        except Exception as exc:  # a checker must not crash on a learner's mistake
            report.results.append(Result("running the checks", False, describe_error(exc)))
    report.results = depends_on_input(needs_action(report.results))
    if used:  # the answer came from the library: no credit, whatever the cases said
        report.results = [Result("your own code, not the library's", False, reason(used[0]))]
    return report


def check(name: str, obj: Any) -> None:
    """Check a learner's solution of exercise ``name`` and show a pass/fail table.

    In Jupyter the report is displayed as a table (and as JSON the grader
    reads); in a script it is printed. Use ``run_checker`` to get the
    ``Report`` itself.
    """
    report = run_checker(name, obj)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python without IPython
        print(report)
    else:
        if get_ipython() is not None:
            display(report)
        else:
            print(report)
    if os.environ.get("NBGRADER_EXECUTION") and not report.passed:
        # nbgrader's autograde scores a test cell as failed only when it raises; a learner in
        # JupyterLab (no NBGRADER_EXECUTION) never sees this, only the table above.
        score = sum(r.passed for r in report.results)
        raise AssertionError(f"{name}: {score}/{len(report.results)} cases passed") from None


__all__ = [
    "DOES_NOTHING",
    "MIME",
    "Exercise",
    "Report",
    "Result",
    "Seen",
    "answered",
    "case",
    "check",
    "depends_on_input",
    "describe_error",
    "exercise",
    "for_notebook",
    "needs_action",
    "raises",
    "registry",
    "run_checker",
]
