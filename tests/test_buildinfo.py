"""Which build runs: the revision comes from pip's direct_url.json or the git checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from router import buildinfo


def test_the_revision_of_this_checkout_is_its_git_head() -> None:
    root = Path(buildinfo.__file__).resolve().parent.parent
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        pytest.skip("not running from a git checkout")
    head = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert buildinfo._checkout_revision(root) == head


def test_a_checkout_with_a_packed_ref_a_worktree_and_a_detached_head(tmp_path: Path) -> None:
    main = tmp_path / "main"
    (main / ".git").mkdir(parents=True)
    (main / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (main / ".git" / "packed-refs").write_text(
        "# pack-refs with: peeled\n" + "a" * 40 + " refs/heads/main\n")
    assert buildinfo._checkout_revision(main) == "a" * 40
    # A worktree: .git is a file naming its gitdir, whose commondir is the main .git.
    gitdir = main / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "HEAD").write_text("ref: refs/heads/feature\n")
    (gitdir / "commondir").write_text("../..\n")
    (main / ".git" / "refs" / "heads").mkdir(parents=True)
    (main / ".git" / "refs" / "heads" / "feature").write_text("b" * 40 + "\n")
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {gitdir}\n")
    assert buildinfo._checkout_revision(wt) == "b" * 40
    (gitdir / "HEAD").write_text("c" * 40 + "\n")
    assert buildinfo._checkout_revision(wt) == "c" * 40


def test_no_git_metadata_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buildinfo, "_installed_revision", lambda: None)
    assert buildinfo.revision(tmp_path) == "unknown"
    assert buildinfo._checkout_revision(tmp_path) is None


def test_a_stamped_revision_file_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Docker image writes router/REVISION and has no .git: build_info must say it.
    monkeypatch.setattr(buildinfo, "_installed_revision", lambda: "f" * 40)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("d" * 40 + "\n")
    (tmp_path / "router").mkdir()
    (tmp_path / "router" / "REVISION").write_text("0123456789ab\n")
    assert buildinfo.revision(tmp_path) == "0123456789ab"
    (tmp_path / "router" / "REVISION").write_text("\n")  # an empty stamp is no answer
    assert buildinfo.revision(tmp_path) == "f" * 40
