#!/usr/bin/env python3
"""Run the shared Boutiques conformance corpus (bosh 0.5.33's real outputs)
through ferry's CLI and report every mismatch.

usage: boutiques.py FERRY CORPUS_DIR [NAME_PREFIX]

Each case is checked as the corpus README says: validate verdict (and, for
Boutiques-rule failures, every message line in order; for JSON-schema
failures, bosh's first message among ferry's); invocation verdict (and
bosh's message among ferry's); the invocation schema; the exact command
line from `simulate` (plain and --json), output paths, evaluated inputs and
the files simulate writes; example generation; for launch cases the exit
code, output files found and missing, stdout, and ferry's exit status.
Prints one line per case, "ok CASE" or "FAIL CASE: reason", then a summary;
exits 1 if any case failed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(argv, cwd=None, stdin=None):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors="surrogateescape")
    return p.returncode, p.stdout, p.stderr


def files_under(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            full = os.path.join(dirpath, n)
            rel = "./" + os.path.relpath(full, root)
            with open(full, encoding="utf-8", errors="surrogateescape") as f:
                out[rel] = f.read()
    return out


def split_json_tail(out):
    """The tool's stdout, then ferry's --json summary (an indented object)."""
    i = out.rfind("\n{\n")
    if out.startswith("{\n") and i < 0:
        return "", json.loads(out)
    return out[: i + 1], json.loads(out[i + 1:])


def check_case(ferry, corpus, case, errs):
    e = case["expect"]
    desc = os.path.join(corpus, case["descriptor"])
    inv = os.path.join(corpus, case["invocation"]) if case.get("invocation") else None

    # 1. validate
    rc, out, err = run([ferry, "app", "validate", "--json", desc])
    if rc not in (0, 1):
        errs.append(f"validate: exit {rc}: {err.strip()}")
        return
    if not out.strip():
        res = {"valid": False, "problems": []}  # not JSON at all: load error on stderr
        if e.get("valid"):
            errs.append(f"validate: {err.strip()}")
            return
    else:
        res = json.loads(out)
    if res["valid"] != e["valid"]:
        errs.append(f"validate: valid={res['valid']}, bosh says {e['valid']}: {res['problems'][:3]}")
        return
    if (rc == 0) != e["valid"]:
        errs.append(f"validate: exit {rc} for valid={e['valid']}")
    vf = e.get("validation_failure")
    msgs = [p["message"] for p in res["problems"]]
    if vf and vf["kind"] == "boutiques" and msgs != vf["errors"]:
        errs.append("validate messages differ:\n  ferry: %s\n  bosh:  %s" % (msgs, vf["errors"]))
    if vf and vf["kind"] == "schema":
        want = vf["first_line"].removeprefix("[ ERROR ] ")
        if want not in msgs:
            errs.append(f"validate: bosh's schema message {want!r} not among {msgs}")
    if not e["valid"]:
        return

    # 2. invocation schema
    if e.get("invocation_schema"):
        rc, out, err = run([ferry, "app", "invocation", "--print-schema", desc])
        with open(os.path.join(corpus, e["invocation_schema"])) as f:
            want = json.load(f)
        if rc != 0 or json.loads(out) != want:
            errs.append(f"invocation schema differs (rc {rc})")

    # 3. example
    if "example_required_only" in e:
        rc, out, err = run([ferry, "app", "example", desc])
        if rc != 0 or json.loads(out) != e["example_required_only"]:
            errs.append(f"example: {out.strip()} != {e['example_required_only']}")
    if not inv:
        return

    # 4. invocation
    if e.get("invocation_valid") is not None:
        rc, out, err = run([ferry, "app", "invocation", "--json", desc, "-i", inv])
        got = json.loads(out)["valid"] if out.strip() else False
        if got != e["invocation_valid"] or (rc == 0) != e["invocation_valid"]:
            errs.append(f"invocation: valid={got} rc={rc}, bosh says {e['invocation_valid']}: {out.strip()[:300]} {err.strip()}")
            return
        fl = (e.get("invocation_failure") or {}).get("first_line", "")
        if fl.startswith("[ ERROR ] "):
            msgs = [p["message"] for p in json.loads(out)["problems"]]
            if fl.removeprefix("[ ERROR ] ") not in msgs:
                errs.append(f"invocation: bosh's message {fl!r} not among {msgs}")

    # 5. simulate, in an empty scratch directory
    if e.get("command_line") is not None:
        with tempfile.TemporaryDirectory() as d:
            rc, out, err = run([ferry, "app", "simulate", "--write-config-files", desc, "-i", inv], cwd=d)
            if rc != 0 or out != e["command_line"] + "\n":
                errs.append(f"simulate: rc {rc}\n  ferry: {out!r}\n  bosh:  {e['command_line']!r}\n  {err.strip()}")
            if "files_written_by_simulate" in e or True:
                got = files_under(d)
                want = e.get("files_written_by_simulate", {})
                if got != want:
                    errs.append(f"simulate wrote {got}, bosh wrote {want}")
            cfg = case.get("expected_config_file")
            if cfg:
                with open(os.path.join(corpus, cfg["expected"])) as f:
                    if got.get(cfg["path"]) != f.read():
                        errs.append(f"config file {cfg['path']} differs from {cfg['expected']}")
        with tempfile.TemporaryDirectory() as d:
            rc, out, err = run([ferry, "app", "simulate", "--json", desc, "-i", inv], cwd=d)
            j = json.loads(out) if rc == 0 else {}
            if j.get("command-line") != e["command_line"]:
                errs.append("simulate --json: command line differs")
            if "output_paths" in e and j.get("output-files") != e["output_paths"]:
                errs.append(f"output paths: {j.get('output-files')} != {e['output_paths']}")
            if "evaluated_inputs" in e and j.get("inputs") != e["evaluated_inputs"]:
                errs.append(f"inputs: {j.get('inputs')} != {e['evaluated_inputs']}")

    # 6. launch: on this host (--no-container), in a scratch directory, and
    #    for cases bosh ran in a container, also in ferry's runtime with the
    #    test busybox image standing in for the descriptor's image
    spec = case.get("launch")
    if spec and "launch" in e:
        check_launch(ferry, desc, inv, spec, e["launch"], ["--no-container"], errs)
        image = busybox_image(ferry)
        if image and spec.get("runtime") == "fake":
            with open(desc) as f:
                dj = json.load(f)
            dj["container-image"] = {"type": "docker", "image": image}
            with tempfile.TemporaryDirectory() as t:
                d2 = os.path.join(t, "descriptor.json")
                with open(d2, "w") as f:
                    json.dump(dj, f)
                check_launch(ferry, d2, inv, spec, e["launch"], [], errs)


_busybox = None


def busybox_image(ferry):
    """oci:... of the test busybox image when ferry has its runtime, else None."""
    global _busybox
    if _busybox is None:
        _busybox = ""
        images = os.environ.get("FERRY_TEST_IMAGES", "")
        layout = os.path.join(images, "busybox")
        if images and os.path.isfile(os.path.join(layout, "index.json")):
            rc, out, err = run([ferry, "exec", "--no-pull", "x", "true"])
            if "not implemented" not in err:
                _busybox = f"oci:{layout}:latest"
    return _busybox or None


def check_launch(ferry, desc, inv, spec, le, extra, errs):
    where = "in the container" if not extra else "on the host"
    with tempfile.TemporaryDirectory() as d:
        for rel, content in (spec.get("setup_files") or {}).items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)
        args = [a for a in spec.get("args", []) if a != "--no-container"]
        rc, out, err = run([ferry, "app", "launch", "--json", *extra, *args, desc, inv], cwd=d)
        try:
            tool_out, j = split_json_tail(out)
        except (ValueError, json.JSONDecodeError):
            errs.append(f"launch {where}: no JSON summary (rc {rc}): {out!r} {err!r}")
            return
        if j["exit-code"] != le["exit_code"]:
            errs.append(f"launch {where}: exit code {j['exit-code']}, bosh {le['exit_code']}")
        if j["found"] != le["output_files"]:
            errs.append(f"launch {where}: output files {j['found']} != {le['output_files']}")
        if j["missing"] != le["missing_files"]:
            errs.append(f"launch {where}: missing files {j['missing']} != {le['missing_files']}")
        if j["error-message"] != le["error_message"]:
            errs.append(f"launch {where}: error message {j['error-message']!r} != {le['error_message']!r}")
        if spec.get("runtime") != "fake" and tool_out != le["stdout"]:
            errs.append(f"launch {where}: stdout {tool_out!r} != {le['stdout']!r}")
        # ferry's deliberate difference: a missing required output fails a
        # successful tool
        want_rc = 1 if le["exit_code"] == 0 and le["missing_files"] else le["exit_code"]
        if rc != want_rc:
            errs.append(f"launch {where}: ferry exit {rc}, expected {want_rc}")


def main():
    ferry, corpus = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else ""
    with open(os.path.join(corpus, "cases.json")) as f:
        cases = json.load(f)
    cases = [c for c in cases if c["name"].startswith(prefix)]
    failed = 0
    for case in cases:
        errs = []
        try:
            check_case(ferry, corpus, case, errs)
        except Exception as ex:  # a crash in the runner is a failure of the case
            errs.append(f"runner: {type(ex).__name__}: {ex}")
        if errs:
            failed += 1
            print(f"FAIL {case['name']}:")
            for x in errs:
                print("    " + x)
        else:
            print(f"ok {case['name']}")
    print(f"{len(cases) - failed} of {len(cases)} cases agree with bosh, {failed} differ")
    sys.exit(1 if failed or not cases else 0)


if __name__ == "__main__":
    main()
