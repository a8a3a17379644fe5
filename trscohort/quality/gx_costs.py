"""One cost of Great Expectations 1.x removed, without changing what it computes.

`Expectation.configuration` is a property that rebuilds the whole configuration from the
pydantic model (`self.dict()`) on every read, and GX's kwargs getters read it once per key:
`_get_domain_kwargs` and `_get_success_kwargs` once per domain or success key,
`_get_success_kwarg` twice. A data-quality run made ~20,000 such builds for 222 expectations,
a fifth of its validation time. `install()` (idempotent) wraps those getters so that, while one
runs, a second read of the same expectation's configuration returns the object the first read
built; the getters only read it. Outside a getter every read builds a new one, as before.
A getter this version of GX lacks is left alone. Tested in tests/test_quality.py.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from great_expectations.expectations.expectation import Expectation

GETTERS = ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg")

_state = threading.local()
_INSTALLED = False


def _built_once(build):
    def configuration(self: Expectation):
        memo: dict[int, tuple] | None = getattr(_state, "memo", None)
        if memo is None:
            return build(self)
        key = id(self)
        if key not in memo:  # the expectation is kept too: its id is not reused meanwhile
            memo[key] = (self, build(self))
        return memo[key][1]

    configuration.__wrapped__ = build
    return configuration


def _reading_configuration_once(getter):
    @functools.wraps(getter)
    def wrapper(self: Expectation, *args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "memo", None) is not None:  # inside another getter: its memo
            return getter(self, *args, **kwargs)
        _state.memo = {}
        try:
            return getter(self, *args, **kwargs)
        finally:
            _state.memo = None

    return wrapper


def install() -> None:
    """Wrap the configuration property and the kwargs getters (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    prop = Expectation.__dict__.get("configuration")
    if isinstance(prop, property) and prop.fget is not None:
        Expectation.configuration = property(_built_once(prop.fget), doc=prop.__doc__)
        for name in GETTERS:
            if name in Expectation.__dict__:
                setattr(Expectation, name, _reading_configuration_once(Expectation.__dict__[name]))
    _INSTALLED = True
