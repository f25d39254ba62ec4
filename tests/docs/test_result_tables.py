"""The result tables of the README (its front table) and of docs/results.md quote the committed
results files, number for number.

A table is tagged by a comment naming its results file(s):
``<!-- results-table: NAME -->`` (QPS at recall 0.9 / 0.95 / 0.99, max recall, build s and index
MB from results/NAME.md) or ``<!-- results-table-095: NAME NAME ... -->`` (one column of QPS at
recall 0.95 per named file).
"""

import re

import pytest
from tests.paths import ROOT

DOCS = ("README.md", "docs/results.md")  # the documents whose tables quote results/
TAG = re.compile(r"<!-- (results-table(?:-095)?): ([^>]*?) -->\n((?:\|.*\n)+)")


def number(cell):
    """A README or results cell as a float (None for '-'), without bold, commas or the speedup."""
    text = cell.replace("**", "").replace(",", "").split("(")[0].strip()
    return None if text == "-" else float(text)


def rows(table):
    """Cells of every row of a Markdown table, header and rule left out."""
    lines = [ln for ln in table.strip().splitlines() if not re.match(r"\|\s*-", ln)]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[1:]]


def section(md, title):
    """The Markdown table following a '### title' heading of a results file."""
    return re.search(rf"### {re.escape(title)}[^\n]*\n\n((?:\|[^\n]*\n)+)", md).group(1)


def results(name):
    """({algorithm: [qps 0.9, 0.95, 0.99, max recall]}, {algorithm: [[build s, index MB], ...]}:
    one pair per build of the algorithm, in the order of the Builds table)."""
    md = (ROOT / "results" / f"{name}.md").read_text()
    glance = {r[0]: [number(c) for c in r[1:5]] for r in rows(section(md, "At a glance"))}
    builds = {}
    for r in rows(section(md, "Builds")):
        builds.setdefault(r[0], []).append([number(c) for c in r[1:3]])
    return glance, builds


def algorithm(label):
    """The algos.yaml name a README row label stands for."""
    label = label.replace("**", "").lower()
    if label.startswith("brute force"):
        return "bruteforce"
    first = label.split()[0]
    return "faiss-ivf-hnsw" if first == "faiss" else first  # older tables: "faiss IVF-HNSW"


def tagged_tables(doc):
    """[(kind, names, table)] of the tagged tables of one document (a path under ROOT)."""
    return TAG.findall((ROOT / doc).read_text())


TABLES = [(doc, *table) for doc in DOCS for table in tagged_tables(doc)]


def test_the_documents_have_tagged_tables():
    """The README's front table and both kinds in docs/results.md are checked (a table whose tag
    was lost would otherwise go unchecked)."""
    assert [kind for kind, _, _ in tagged_tables("README.md")] == ["results-table"]
    kinds = [kind for kind, _, _ in tagged_tables("docs/results.md")]
    assert "results-table" in kinds and "results-table-095" in kinds
    readme = (ROOT / "README.md").read_text()
    front = readme[readme.index("<!-- front-table -->"):readme.index("<!-- /front-table -->")]
    assert TAG.search(front), "the README's front table carries no results-table tag"


@pytest.mark.parametrize("doc,kind,names,table", TABLES, ids=[f"{t[0]}:{t[2]}" for t in TABLES])
def test_table_matches_results(doc, kind, names, table):
    names = names.split()
    files = [results(n) for n in names]
    body = rows(table)
    for glance, _ in files:  # every algorithm of the results appears in the README table
        assert sorted(glance) == sorted(algorithm(r[0]) for r in body)
    for row in body:
        algo = algorithm(row[0])
        if kind == "results-table":
            glance, builds = files[0]
            assert [number(c) for c in row[1:5]] == glance[algo], row
            assert [number(c) for c in row[5:7]] in builds[algo], row  # one of its builds
        else:
            quoted = [number(c) for c in row[1:]]
            assert quoted == [f[0][algo][1] for f in files], row


def test_number_reading():
    assert number("**6,156**") == 6156.0
    assert number("373 (25.5x bf)") == 373.0
    assert number("-") is None
    assert algorithm("faiss IVF-HNSW (4 sqrt(n) lists)") == "faiss-ivf-hnsw"
    assert algorithm("faiss-ivfpqfs (PQ d/2 x 4 fs + refine)") == "faiss-ivfpqfs"
    assert algorithm("annann-raw (ours, sqrt(n) clusters)") == "annann-raw"
