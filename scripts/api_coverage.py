"""Count the PyTorch API that real code bases use, and how much of it arrayneedle resolves.

    python scripts/api_coverage.py --corpus DIR [--top 60] [--json OUT.json] [--missing-only]

DIR holds one folder per code base (``owner+name/``: its ``.py`` files and notebooks, as
``scripts/api_corpus.json`` lists them; ``--materialize`` builds such a folder from git
snapshots). Each file is renamed as a user would port it (``s/\\btorch\\b/arrayneedle/g``), parsed,
and walked:

- attribute chains rooted at an imported arrayneedle module (``arrayneedle.*``, ``nn.*``, ``F.*``,
  ``optim.*``, ``data.*``...) and names imported from one (``from arrayneedle.nn import Linear``),
  import statements included: one site per occurrence, resolved by importing arrayneedle and
  following the chain;
- keywords of calls to those (``nn.Conv2d(..., padding=1)`` is the site ``nn.Conv2d(padding=)``),
  resolved when the callable's signature accepts the keyword;
- method calls on anything else whose name is a public method of ``torch.Tensor``,
  ``torch.nn.Module`` or ``torch.optim.Optimizer`` (a heuristic: the receiver's type is not known;
  names that lists, dicts, strings and sets also have, and receivers bound by a non-torch import
  such as ``np.max``, are left out), with their keywords. The method lists come from torch 2.13
  and are kept in ``scripts/api_coverage_methods.json``, so no torch is needed here.

It prints the share of call sites covered and every name ranked by how many code bases use it.
Works offline; only arrayneedle itself is imported.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = "arrayneedle"
RENAME = re.compile(r"\btorch\b")
METHODS_FILE = Path(__file__).with_name("api_coverage_methods.json")
# methods that builtin containers and strings also have: the receiver could be either
AMBIGUOUS = {n for t in (list, dict, str, set, bytes) for n in dir(t)}
CLASS_PATHS = {"Tensor": "arrayneedle.Tensor", "Module": "arrayneedle.nn.Module",
               "Optimizer": "arrayneedle.optim.Optimizer"}


def read_sources(path: Path):
    """The Python text of a .py file, or the code cells of a notebook (magics dropped)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    out = []
    for c in cells:
        if c.get("cell_type") == "code":
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            out.append("\n".join(line for line in src.splitlines()
                                 if not line.lstrip().startswith(("%", "!"))))
    return "\n\n".join(out)


def _chain(node):
    """``a.b.c`` -> ["a", "b", "c"], or None when the root is not a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class FileScan(ast.NodeVisitor):
    """Collects the sites of one file as (kind, name) pairs."""

    def __init__(self, methods):
        self.aliases = {}      # local name -> dotted arrayneedle path
        self.foreign = set()   # local names bound by other imports (np, math, plt...)
        self.methods = methods
        self.sites = []

    def collect_imports(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == ROOT or a.name.startswith(ROOT + "."):
                        self.sites.append(("name", a.name))
                        if a.asname:
                            self.aliases[a.asname] = a.name
                        else:
                            self.aliases[ROOT] = ROOT
                    else:
                        self.foreign.add(a.asname or a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                ours = node.module == ROOT or node.module.startswith(ROOT + ".")
                for a in node.names:
                    if a.name == "*":
                        continue
                    if ours:
                        path = f"{node.module}.{a.name}"
                        self.aliases[a.asname or a.name] = path
                        self.sites.append(("name", path))
                    else:
                        self.foreign.add(a.asname or a.name)

    def _api_name(self, node):
        parts = _chain(node)
        if parts and parts[0] in self.aliases:
            return ".".join([self.aliases[parts[0]]] + parts[1:])
        return None

    def visit_Call(self, node):
        name = self._api_name(node.func)
        if name is not None:
            for kw in node.keywords:
                if kw.arg:
                    self.sites.append(("keyword", f"{name}({kw.arg}=)"))
        elif isinstance(node.func, ast.Attribute):
            meth = node.func.attr
            parts = _chain(node.func.value)
            receiver_foreign = parts is not None and parts[0] in self.foreign
            owner = self.methods.get(meth)
            if owner and meth not in AMBIGUOUS and not receiver_foreign:
                self.sites.append(("method", f"{owner}.{meth}"))
                for kw in node.keywords:
                    if kw.arg:
                        self.sites.append(("keyword", f"{owner}.{meth}({kw.arg}=)"))
        self.generic_visit(node)

    def visit_Attribute(self, node):
        name = self._api_name(node)
        if name is not None:
            self.sites.append(("name", name))
            return  # the outermost chain only
        self.generic_visit(node)

    def visit_Name(self, node):
        path = self.aliases.get(node.id)
        if path is not None and isinstance(node.ctx, ast.Load) and path.count(".") >= 1:
            self.sites.append(("name", path))


def load_methods():
    table = json.loads(METHODS_FILE.read_text())
    owner = {}
    for cls in ("Optimizer", "Module", "Tensor"):  # Tensor wins where names are shared
        for n in table[cls]:
            owner[n] = cls
    return owner


def scan_file(text, methods):
    """Sites of one file's text (already renamed), or None when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    scan = FileScan(methods)
    scan.collect_imports(tree)
    scan.visit(tree)
    return scan.sites


_MISSING = object()


def resolve_object(dotted):
    """The arrayneedle object a dotted path names, or _MISSING (an error saying a name is not
    offered counts as missing too)."""
    if dotted.split(".")[0] in CLASS_PATHS:
        cls, rest = dotted.split(".", 1)
        dotted = f"{CLASS_PATHS[cls]}.{rest}"
    parts = dotted.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return _MISSING
    for i, p in enumerate(parts[1:], start=1):
        # an attribute first (``arrayneedle.tensor`` is the function, though a module of that
        # name exists), then a submodule not imported yet (``arrayneedle.utils.tensorboard``)
        try:
            obj = getattr(obj, p)
            continue
        except Exception:  # noqa: BLE001 - any failure means: not an attribute
            pass
        if not inspect.ismodule(obj):
            return _MISSING
        try:
            obj = importlib.import_module(".".join(parts[:i + 1]))
        except Exception:  # noqa: BLE001 - ImportError, or an error saying it is not offered
            return _MISSING
    return obj


def accepts_keyword(obj, kw):
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return True  # builtins without a signature: cannot tell, assume yes
    return any(p.name == kw and p.kind is not p.POSITIONAL_ONLY or p.kind is p.VAR_KEYWORD
               for p in params)


def resolves(kind, name, cache):
    """"yes", "no", or "declined": the name exists to say it is not offered (an object with
    ``__arrayneedle_declined__``); declined sites are not counted as covered."""
    if name in cache:
        return cache[name]
    if kind == "keyword":
        base, kw = name[:-2].split("(")
        obj = resolve_object(base)
        ok = obj is not _MISSING and callable(obj) and accepts_keyword(obj, kw)
    else:
        obj = resolve_object(name)
        ok = obj is not _MISSING
    status = "no"
    if ok:
        status = "declined" if getattr(obj, "__arrayneedle_declined__", None) else "yes"
    cache[name] = status
    return status


def measure(corpus: Path):
    """Scan every code base under ``corpus``; return the report as a dict."""
    methods = load_methods()
    sites = defaultdict(lambda: [0, set()])   # (kind, name) -> [count, code bases]
    per_base = defaultdict(lambda: defaultdict(int))  # code base -> (kind, name) -> count
    files = unparsed = 0
    bases = sorted(p for p in corpus.iterdir() if p.is_dir() and not p.name.startswith("."))
    for base in bases:
        for f in sorted(base.rglob("*")):
            if f.suffix not in (".py", ".ipynb") or not f.is_file():
                continue
            files += 1
            found = scan_file(RENAME.sub(ROOT, read_sources(f)), methods)
            if found is None:
                unparsed += 1
                continue
            for key in found:
                sites[key][0] += 1
                sites[key][1].add(base.name)
                per_base[base.name][key] += 1
    cache, rows = {}, []
    with warnings.catch_warnings():  # deprecated aliases resolve (and would warn once each)
        warnings.simplefilter("ignore")
        for kind, name in sites:
            resolves(kind, name, cache)
    for (kind, name), (count, where) in sites.items():
        status = resolves(kind, name, cache)
        rows.append({"kind": kind, "name": name, "sites": count, "code_bases": len(where),
                     "resolved": status == "yes", "declined": status == "declined"})
    rows.sort(key=lambda r: (-r["code_bases"], -r["sites"], r["name"]))
    total = sum(r["sites"] for r in rows)
    covered = sum(r["sites"] for r in rows if r["resolved"])
    names = len({r["name"] for r in rows})
    bases_report = []
    for b, counts in per_base.items():
        n = sum(counts.values())
        ok = sum(c for (kind, name), c in counts.items() if cache[name] == "yes")
        bases_report.append({"code_base": b, "sites": n, "covered_sites": ok,
                             "site_coverage": ok / n})
    bases_report.sort(key=lambda r: (r["site_coverage"], r["code_base"]))
    return {"code_bases": len(bases), "files": files, "unparsed_files": unparsed,
            "per_code_base": bases_report,
            "sites": total, "covered_sites": covered,
            "site_coverage": covered / total if total else 1.0,
            "names": names, "resolved_names": sum(r["resolved"] for r in rows),
            "declined_sites": sum(r["sites"] for r in rows if r["declined"]), "rows": rows}


def materialize(listing: Path, mirrors: Path, out: Path):
    """Write the files ``api_corpus.json`` lists from git snapshots (``mirrors/owner+name``)."""
    import subprocess
    entries = json.loads(listing.read_text())["code_bases"]
    for e in entries:
        key = e["repository"].replace("/", "+")
        git = mirrors / key / "repo"
        git = git / ".git" if (git / ".git").is_dir() else git
        for rel in e["files"]:
            blob = subprocess.run(["git", "--git-dir", str(git), "show", f"{e['commit']}:{rel}"],
                                  capture_output=True)
            if blob.returncode:
                print(f"materialize: {e['repository']} has no {rel} at {e['commit']}",
                      file=sys.stderr)
                continue
            dst = out / key / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(blob.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True,
                    help="folder with one sub-folder of .py/.ipynb files per code base")
    ap.add_argument("--top", type=int, default=60, help="names to list (default 60)")
    ap.add_argument("--missing-only", action="store_true", help="list unresolved names only")
    ap.add_argument("--json", type=Path, help="write the whole report here")
    ap.add_argument("--per-base", action="store_true",
                    help="also list each code base's coverage, least covered first")
    ap.add_argument("--materialize", nargs=2, type=Path, metavar=("LISTING", "MIRRORS"),
                    help="first write the corpus folder from git snapshots")
    args = ap.parse_args(argv)
    if args.materialize:
        materialize(*args.materialize, args.corpus)
    if not args.corpus.is_dir():
        print(f"api_coverage: --corpus {args.corpus} is not a folder", file=sys.stderr)
        return 2
    rep = measure(args.corpus)
    print(f"{rep['code_bases']} code bases, {rep['files']} files ({rep['unparsed_files']} not "
          f"Python 3), {rep['names']} names, {rep['resolved_names']} resolve")
    print(f"call sites covered: {rep['covered_sites']}/{rep['sites']} = "
          f"{100 * rep['site_coverage']:.2f}% ({rep['declined_sites']} more sites use names "
          f"that exist only to say they are not offered)")
    rows = [r for r in rep["rows"] if not (args.missing_only and r["resolved"])]
    print(f"{'bases':>5} {'sites':>6}  ok  name   (ok: y resolves, - missing, d declined)")
    for r in rows[:args.top]:
        mark = "y" if r["resolved"] else ("d" if r["declined"] else "-")
        print(f"{r['code_bases']:>5} {r['sites']:>6}  {mark}   "
              f"{r['name']}")
    if args.per_base:
        print(f"{'covered':>8} {'sites':>6}  code base")
        for b in rep["per_code_base"]:
            print(f"{100 * b['site_coverage']:>7.2f}% {b['sites']:>6}  {b['code_base']}")
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
