"""The policy's words: roles.csv and the code's questions use only the vocabulary."""

from __future__ import annotations

from pathlib import Path

import casbin
import pytest

from renraku.access import enforcer as enforcer_module
from renraku.access.enforcer import allowed, check_policy, policies_dir
from renraku.access.vocabulary import PolicyError


def test_the_shipped_policy_uses_only_known_words() -> None:
    check_policy()


def test_a_question_with_an_unknown_object_or_action_fails_instead_of_denying() -> None:
    with pytest.raises(PolicyError, match="timelin"):
        allowed({"coordinator"}, "timelin", "read")
    with pytest.raises(PolicyError, match="raed"):
        allowed(set(), "timeline", "raed")
    assert allowed({"coordinator"}, "timeline", "read")


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("p, coordinater, timeline, read", "coordinater"),
        ("p, member, timline, read", "timline"),
        ("p, member, timeline, reed", "reed"),
    ],
)
def test_a_typo_in_the_policy_fails_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, word: str
) -> None:
    folder = policies_dir()
    (tmp_path / "model.conf").write_text((folder / "model.conf").read_text())
    (tmp_path / "roles.csv").write_text((folder / "roles.csv").read_text() + line + "\n")
    typo = casbin.FastEnforcer(
        str(tmp_path / "model.conf"), str(tmp_path / "roles.csv"), cache_key_order=[1, 2]
    )
    monkeypatch.setattr(enforcer_module, "enforcer", lambda: typo)
    with pytest.raises(PolicyError, match=word):
        check_policy()
