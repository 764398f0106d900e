#!/usr/bin/env python3
"""How well `pagefeed suggest` finds the entries of real listing pages without selectors.

Usage: bench/suggest-corpus.py [--bin PATH-TO-pagefeed] [--corpus DIR] [-v]

For every page of the shared corpus (../shared/corpus relative to the repository: corpus.toml
names the pages and their site_url, expected.json their entries) and for the NK News demo page
(config/demo/nknews-latest.html; its expected entries are what `pagefeed build` makes of it with
the demo config's selectors), it runs

    pagefeed suggest PAGE --site-url SITE --json --limit 1

and compares the first candidate's entry links with the expected links. A page passes when the
candidate finds at least 90% of the expected links and at most 10% extra (counted against the
expected number). Prints per page: found/expected, extra, method and item selector; then the total.
"""
import json, shutil, subprocess, sys, tempfile, tomllib
from pathlib import Path


def arg(name, default=None):
    if name in sys.argv:
        i = sys.argv.index(name)
        val = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        return val
    return default


repo = Path(__file__).resolve().parent.parent
corpus = Path(arg("--corpus", str(repo / ".." / "shared" / "corpus"))).resolve()
binary = str(Path(arg("--bin", str(repo / "target" / "release" / "pagefeed"))).resolve())
verbose = "-v" in sys.argv


def suggest(page, site):
    cmd = [binary, "suggest", str(page), "--json", "--limit", "1"]
    if site:
        cmd += ["--site-url", site]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if run.returncode != 0 and not run.stdout.strip():
        return None, run.stderr.strip()
    return json.loads(run.stdout), None


def measure(name, page, site, expected_links):
    out, err = suggest(page, site)
    exp = set(expected_links)
    if out is None:
        print(f"FAIL {name:30} suggest failed: {err}")
        return False
    cands = out.get("candidates", [])
    if not cands:
        print(f"FAIL {name:30} 0/{len(exp)} found, no candidate")
        return False
    first = cands[0]
    got = [e.get("link") for e in first.get("entries", []) if e.get("link")]
    got_set = set(got)
    found = len(exp & got_set)
    extra = len(got_set - exp)
    ok = found * 10 >= len(exp) * 9 and extra * 10 <= len(exp)
    print(f"{'ok  ' if ok else 'FAIL'} {name:30} {found:4}/{len(exp):<4} found, {extra:4} extra"
          f"  [{first.get('method')}] {first.get('selector')}")
    if verbose and not ok:
        for l in sorted(exp - got_set)[:3]:
            print(f"       missing {l}")
        for l in sorted(got_set - exp)[:3]:
            print(f"       extra   {l}")
    return ok


def nknews_expected():
    """The links the demo config's hand-written selectors give for the NK News demo page."""
    work = Path(tempfile.mkdtemp(prefix="pagefeed-suggest-bench-"))
    try:
        (work / "config").mkdir()
        shutil.copy(repo / "config" / "pagefeed.toml", work / "config" / "pagefeed.toml")
        (work / "config" / "demo").symlink_to(repo / "config" / "demo", target_is_directory=True)
        out = work / "out"
        subprocess.run([binary, "build", "--config", str(work / "config" / "pagefeed.toml"),
                        "--out", str(out), "nknews-demo"], capture_output=True, text=True, timeout=120)
        items = json.loads((out / "nknews-demo.json").read_text(encoding="utf-8"))["items"]
        return [i["url"] for i in items if i.get("url")]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    config = tomllib.loads((corpus / "corpus.toml").read_text(encoding="utf-8"))
    expected = json.loads((corpus / "expected.json").read_text(encoding="utf-8"))
    passed = total = 0
    for name, feed in config["feeds"].items():
        if name not in expected:
            continue
        links = [e["url"] for e in expected[name]["items"] if e.get("url")]
        total += 1
        passed += measure(name, corpus / feed["url"], feed.get("site_url"), links)
    corpus_passed = passed
    demo = toml_demo = tomllib.loads((repo / "config" / "pagefeed.toml").read_text(encoding="utf-8"))
    site = toml_demo["feeds"]["nknews-demo"].get("site_url")
    demo_ok = measure("nknews-demo", repo / "config" / "demo" / "nknews-latest.html", site, nknews_expected())
    print(f"corpus: {corpus_passed} of {total} pages pass; NK News demo: {'pass' if demo_ok else 'FAIL'}")
    sys.exit(0 if corpus_passed >= 12 and demo_ok else 1)


main()
