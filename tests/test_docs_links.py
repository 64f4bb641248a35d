"""Every relative link and `#anchor` in README.md and docs/*.md leads somewhere, as GitHub renders them."""

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# An inline link or image: `[text](target)` or `[text](target "title")`.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# Inline code is shown as typed, so brackets in it are no link.
CODE_SPAN = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
# A scheme (https:, mailto:) means another site: not checked here, the test must not need a network.
ABSOLUTE = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose_lines(page: Path) -> list[str]:
    """The page's lines outside fenced code blocks (a `#` there is a shell comment, not a heading)."""
    lines: list[str] = []
    fenced = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text of its links, lower case, punctuation dropped but `-` and
    `_`, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; GitHub numbers a repeated one `-1`, `-2`, … in page order."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    for line in prose_lines(page):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(1))
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    return [
        target
        for line in prose_lines(page)
        for target in LINK.findall(CODE_SPAN.sub("", line))
        if not ABSOLUTE.match(target)
    ]


def broken(page: Path, target: str) -> str | None:
    """Why a relative link of the page leads nowhere, or None when it resolves."""
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    if not destination.exists():
        return f"{path} does not exist"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{destination.name} has no heading #{anchor}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    failures = [f"{target}: {why}" for target in links(page) if (why := broken(page, target))]
    assert not failures, "\n".join(failures)


def test_the_heading_anchors_follow_github() -> None:
    assert slug("`livescore dev`: everything on one machine") == "livescore-dev-everything-on-one-machine"
    assert slug("HTTP (py-spy, cProfile and CPU per request, 2026-11-26)") == (
        "http-py-spy-cprofile-and-cpu-per-request-2026-11-26"
    )
    assert slug("400: the first check that fails") == "400-the-first-check-that-fails"


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](#nowhere) [missing](other.md)\n```\n[code](no.md)\n```\n")
    assert [broken(page, target) for target in links(page)] == [
        None,
        "page.md has no heading #nowhere",
        "other.md does not exist",
    ]
