"""The README stays a front door (at most 1,500 words, as ``wc -w`` counts them) and every link of
the README and of docs/ reaches a file of the repository, and the heading it names."""

import re

import pytest

from tests.paths import ROOT

DOCUMENTS = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def words(text):
    """Words as ``wc -w`` counts them: runs of non-whitespace."""
    return len(text.split())


def slug(heading):
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    """The anchors of every heading of a Markdown file (code blocks left out)."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.*)$", text, re.M)}


def local_links(doc):
    """(target path, anchor or None) of every link of a document that is not a web address."""
    path = ROOT / doc
    out = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        out.append(((path.parent / file).resolve() if file else path, anchor or None))
    return out


def test_the_readme_is_a_front_door():
    assert words((ROOT / "README.md").read_text()) <= 1500


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_links_reach_a_file_and_its_heading(doc):
    links = local_links(doc)
    for target, anchor in links:
        assert target.exists(), f"{doc}: link to {target} that does not exist"
        if anchor:
            assert anchor in anchors(target), f"{doc}: no heading #{anchor} in {target.name}"


def test_the_checks_can_fail(tmp_path):
    assert words("a b\n c\t d") == 4
    assert slug("Reproducing the published results: `annann-bench reproduce`") == \
        "reproducing-the-published-results-annann-bench-reproduce"
    assert "docs/results.md" in DOCUMENTS and len(local_links("README.md")) >= 5
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```\n# not a heading\n```\n## Inside ann-benchmarks, and more\n")
    assert anchors(page) == {"title", "inside-ann-benchmarks-and-more"}
