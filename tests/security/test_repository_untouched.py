"""Issue 15, item 14: the test suite writes only under pytest's temporary folders.

`tests/conftest.py` snapshots the repository's tree when the session starts and runs this test
last, so it sees everything the suite did (including a run without `--out`, which once
overwrote the user's `out/`).
"""

from __future__ import annotations

from tests.security.repository import tree_changes, tree_snapshot


def test_suite_leaves_the_repository_unchanged(repository_before_session):
    changes = tree_changes(repository_before_session, tree_snapshot())
    assert not changes, "the test suite changed the repository: " + "; ".join(changes[:10])
