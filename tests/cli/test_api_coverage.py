"""scripts/api_coverage.py on a tiny synthetic corpus: every kind of site is found, renamed,
counted per code base and resolved against arrayneedle."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROG_A = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
import numpy as np
from torch.utils.data import DataLoader

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, bias=False)

    def forward(self, x):
        return F.relu(self.fc(x)).sum(dim=1, keepdim=True)

x = torch.zeros(2, 3, dtype=torch.float32)
y = torch.no_such_function(x)
n = np.max(x)               # a foreign receiver: not a Tensor method site
net = Net(); net.eval()
x.view(2, 3).not_a_method()
z = nn.Linear(3, 4, bogus_keyword=1)
with torch.autocast("cpu"):
    pass
'''

PROG_B = '''
import torch
t = torch.zeros(3)
u = torch.tensor([1.0], dtype=torch.float64)  # arrayneedle.tensor: a function and a module
t.unsqueeze(0)
'''

NOTEBOOK = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n", "import torch\n",
                                                      "torch.no_such_function()\n"]},
                      {"cell_type": "markdown", "source": ["torch.zeros is prose"]}]}


@pytest.fixture()
def coverage(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import api_coverage
    return api_coverage


def _corpus(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "train.py").write_text(PROG_A)
    (tmp_path / "a" / "py2.py").write_text("print 'python 2'\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "m.py").write_text(PROG_B)
    (tmp_path / "b" / "nb.ipynb").write_text(json.dumps(NOTEBOOK))
    return tmp_path


def test_sites_are_counted_and_resolved(coverage, tmp_path):
    rep = coverage.measure(_corpus(tmp_path))
    rows = {r["name"]: r for r in rep["rows"]}
    assert rep["code_bases"] == 2 and rep["files"] == 4 and rep["unparsed_files"] == 1
    # torch.zeros: once in a, once in b; resolves
    assert rows["arrayneedle.zeros"]["sites"] == 2 and rows["arrayneedle.zeros"]["code_bases"] == 2
    assert rows["arrayneedle.zeros"]["resolved"]
    assert rows["arrayneedle.zeros(dtype=)"]["resolved"]
    assert rows["arrayneedle.tensor(dtype=)"]["resolved"]
    # the made-up name: used in a and in b's notebook, not resolved
    assert rows["arrayneedle.no_such_function"] == {
        "kind": "name", "name": "arrayneedle.no_such_function", "sites": 2, "code_bases": 2,
        "resolved": False, "declined": False}
    # a name that exists to say it is not offered: not covered, counted apart
    assert rows["arrayneedle.autocast"]["declined"] and not rows["arrayneedle.autocast"][
        "resolved"]
    assert rep["declined_sites"] == 1
    assert not rows["arrayneedle.nn.Linear(bogus_keyword=)"]["resolved"]
    assert rows["arrayneedle.nn.Linear(bias=)"]["resolved"]
    assert rows["arrayneedle.nn.functional.relu"]["resolved"]
    assert rows["arrayneedle.utils.data.DataLoader"]["resolved"]  # from-import
    assert rows["Tensor.sum(keepdim=)"]["resolved"] and rows["Tensor.view"]["resolved"]
    assert rows["Tensor.unsqueeze"]["code_bases"] == 1
    assert rows["Module.eval"]["resolved"]
    assert "Tensor.max" not in rows  # np.max: receiver bound by a non-torch import
    assert not any("not_a_method" in n or "is prose" in n for n in rows)
    assert rep["sites"] == sum(r["sites"] for r in rep["rows"])
    missing = sum(r["sites"] for r in rep["rows"] if not r["resolved"])
    assert rep["covered_sites"] == rep["sites"] - missing == rep["sites"] - 4
    per = {b["code_base"]: b for b in rep["per_code_base"]}
    assert per["b"]["sites"] + per["a"]["sites"] == rep["sites"]
    assert per["b"]["covered_sites"] == per["b"]["sites"] - 1  # its notebook's made-up name
    assert [b["site_coverage"] for b in rep["per_code_base"]] == sorted(
        b["site_coverage"] for b in rep["per_code_base"])
    # ranked by code bases, then sites
    keys = [(-r["code_bases"], -r["sites"]) for r in rep["rows"]]
    assert keys == sorted(keys)


def test_cli_prints_share_and_writes_json(coverage, tmp_path, capsys):
    corpus = _corpus(tmp_path / "c")
    out = tmp_path / "rep.json"
    assert coverage.main(["--corpus", str(corpus), "--json", str(out), "--missing-only"]) == 0
    text = capsys.readouterr().out
    rep = json.loads(out.read_text())
    assert f"{rep['covered_sites']}/{rep['sites']}" in text
    assert "arrayneedle.no_such_function" in text and "arrayneedle.zeros\n" not in text


def test_cli_refuses_a_missing_folder(coverage, tmp_path, capsys):
    assert coverage.main(["--corpus", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_corpus_listing_is_complete():
    listing = json.loads((ROOT / "scripts" / "api_corpus.json").read_text())["code_bases"]
    assert len(listing) >= 40
    ported = {"pytorch/examples", "kuangliu/pytorch-cifar", "karpathy/minGPT"}
    assert not ported & {e["repository"] for e in listing}
    for e in listing:
        assert len(e["commit"]) == 40 and e["files"], e["repository"]


def test_script_runs_as_a_program(tmp_path):
    import subprocess
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_coverage.py"), "--corpus",
                        str(_corpus(tmp_path)), "--top", "3"], capture_output=True, text=True,
                       cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert "call sites covered" in r.stdout
