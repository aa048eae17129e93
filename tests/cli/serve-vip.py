#!/usr/bin/env python3
"""The HTTP sequences of VIP's Python client (vip-client, src/vip_client/),
replayed with `requests` as that client sends them, against ferry serve.

Both layers: utils/vip.py (a whole low-level session) and VipSession's
init -> upload_inputs -> launch_pipeline -> monitor_workflows ->
download_outputs -> finish. Each step checks what the client reads from
the answer, the way it reads it (its error test is a JSON object whose keys
are exactly errorCode and errorMessage; dates are divided by 1000;
returnedFiles["output_file"]; parameters' defaultValue).

Usage: serve-vip.py BASE_URL USER PASSWORD PIPELINE INPUT_ID WORKDIR
"""
import os
import sys
import tarfile
import time
from pathlib import Path, PurePosixPath

import requests

base, user, password, pipeline, input_id, work = sys.argv[1:7]
PREFIX = base.rstrip("/") + "/rest/"   # only the host part of VIP's base URL changes
work = Path(work)


def is_error(rq):
    """vip.detect_errors"""
    if not rq.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        j = rq.json()
    except ValueError:
        return None
    if isinstance(j, dict) and list(j.keys()) == ["errorCode", "errorMessage"]:
        return j["errorCode"]
    return None


def ok(rq, what):
    code = is_error(rq)
    if code is not None:
        sys.exit("%s: error %s: %s" % (what, code, rq.text))
    return rq


def step(msg):
    print("--", msg, flush=True)


# ---- utils/vip.py: a whole session ----
step("get_apikey")
rq = requests.post(PREFIX + "authenticate", headers={"Content-Type": "application/json"},
                   json={"username": user, "password": password})
key = ok(rq, "get_apikey").json()["httpHeaderValue"]
H = {"apikey": key}

step("setApiKey with a wrong key answers 40101")
rq = requests.put(PREFIX + "plateform", headers={"apikey": "0" * 64})
assert is_error(rq) == 40101, rq.text
step("setApiKey")
ok(requests.put(PREFIX + "plateform", headers=H), "setApiKey")

S = requests.Session()
S.headers.update(H)

step("create_dir, upload, exists, list_directory")
ok(S.put(PREFIX + "path" + "/vip/Home/low"), "create_dir")
data = (work / "input.txt").read_bytes()
ok(S.put(PREFIX + "path" + "/vip/Home/low/input.txt", data=data,
         headers={"apikey": key, "Content-Type": "application/octet-stream"}), "upload")
assert S.get(PREFIX + "path/vip/Home/low/input.txt?action=exists").json()["exists"] is True
assert S.get(PREFIX + "path/vip/Home/nothing?action=exists").json()["exists"] is False
dirs = [d for d in ok(S.get(PREFIX + "path/vip/Home?action=list"), "list").json() if d["isDirectory"]]
assert "/vip/Home/low" in [d["path"] for d in dirs], dirs
props = ok(S.get(PREFIX + "path/vip/Home/low/input.txt?action=properties"), "properties").json()
assert props["isDirectory"] is False

step("list_pipeline, pipeline_def")
pipes = ok(S.get(PREFIX + "pipelines"), "list_pipeline").json()
assert pipeline in [p["identifier"] for p in pipes if p["canExecute"] is True]
pdef = ok(S.get(PREFIX + "pipelines/" + pipeline), "pipeline_def").json()
required = {p["name"] for p in pdef["parameters"]
            if not p["isOptional"] and p["defaultValue"] == "$input.getDefaultValue()"}

step("init_exec with resultsLocation")
rq = S.post(PREFIX + "executions", headers={"apikey": key, "Content-Type": "application/json"},
            json={"name": "low", "pipelineIdentifier": pipeline,
                  "inputValues": {input_id: "/vip/Home/low/input.txt", "n": "4"},
                  "resultsLocation": "/vip/Home/low/out"})
eid = ok(rq, "init_exec").json()["identifier"]

step("execution_info until done")
for _ in range(600):
    info = ok(S.get(PREFIX + "executions/" + eid), "execution_info").json()
    if info["status"] != "Running":
        break
    time.sleep(0.2)
assert info["status"] == "Finished", info
time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(info["startDate"] / 1000))

step("get_exec_results, download")
res = ok(S.get(PREFIX + "executions/" + eid + "/results"), "get_exec_results").json()
assert res and all("path" in r for r in res), res
for r in res:
    rq = S.get(PREFIX + "path" + r["path"] + "?action=content", stream=True)
    assert rq.status_code == 200
    assert rq.content == data, rq.content
assert int(ok(S.get(PREFIX + "executions/count"), "count").text) >= 1
assert isinstance(ok(S.get(PREFIX + "executions"), "list").json(), list)
ok(S.get(PREFIX + "executions/" + eid + "/stdout"), "stdout")

step("kill_execution (DELETE ?deleteFiles=true)")
rq = S.delete(PREFIX + "executions/" + eid + "?deleteFiles=true")
assert is_error(rq) is None and rq.status_code == 204, rq.text

# ---- VipSession ----
session = "VipSession-test"
vip_dir = PurePosixPath("/vip/Home/API") / session
vin, vout = vip_dir / "INPUTS", vip_dir / "OUTPUTS"


def exists(p):
    return ok(S.get(PREFIX + "path" + str(p) + "?action=exists"), "exists").json()["exists"]


def mkdirs(p):
    """VipLauncher._mkdirs: the first missing node, then each below it"""
    if exists(p):
        return
    first = p
    while not exists(first.parent):
        first = first.parent
    todo = [first] + [first / part for part in []]
    ok(S.put(PREFIX + "path" + str(first)), "create_dir")
    cur = first
    while cur != p:
        cur = cur / p.relative_to(cur).parts[0]
        ok(S.put(PREFIX + "path" + str(cur)), "create_dir")


step("VipSession.init")
ok(requests.put(PREFIX + "plateform", headers=H), "setApiKey")
avail = [p["identifier"] for p in ok(S.get(PREFIX + "pipelines"), "pipelines").json() if p["canExecute"] is True]
assert pipeline in avail

step("VipSession.upload_inputs")
assert exists(vin) is False
local_in = work / "dataset"
mkdirs(vin)
for f in sorted(local_in.iterdir()):
    rq = S.put(PREFIX + "path" + str(vin / f.name), data=f.read_bytes(),
               headers={"apikey": key, "Content-Type": "application/octet-stream"})
    assert is_error(rq) is None, rq.text

step("VipSession.launch_pipeline")
pdef = ok(S.get(PREFIX + "pipelines/" + pipeline), "pipeline_def").json()
settings = {input_id: str(vin / "a.txt"), "n": "2"}
missing = {p["name"] for p in pdef["parameters"]
           if not p["isOptional"] and p["defaultValue"] == "$input.getDefaultValue()"} - set(settings)
assert not missing, missing
assert exists(settings[input_id])
rq = S.post(PREFIX + "executions", headers={"apikey": key, "Content-Type": "application/json"},
            json={"name": session, "pipelineIdentifier": pipeline, "inputValues": settings,
                  "resultsLocation": str(vout)})
wid = ok(rq, "init_exec").json()["identifier"]

step("VipSession.monitor_workflows")
for _ in range(600):
    infos = ok(S.get(PREFIX + "executions/" + wid), "execution_info").json()
    outputs = [] if not infos["returnedFiles"] else [{"path": v} for v in infos["returnedFiles"]["output_file"]]
    if infos["status"] != "Running":
        break
    time.sleep(0.2)
assert infos["status"] == "Finished", infos
assert outputs, infos

step("VipSession.download_outputs")
local_out = work / "vip_outputs" / session
for o in outputs:
    vp = PurePosixPath(o["path"])
    lp = local_out / vp.relative_to(vout)
    lp.parent.mkdir(parents=True, exist_ok=True)
    rq = S.get(PREFIX + "path" + str(vp) + "?action=content", stream=True)
    assert rq.status_code == 200
    lp.write_bytes(rq.content)
    if tarfile.is_tarfile(lp):
        pass
print("downloaded:", " ".join(str(p.relative_to(local_out)) for p in local_out.rglob("*") if p.is_file()))

step("VipSession.finish")
rq = S.delete(PREFIX + "path" + str(vip_dir))
assert is_error(rq) is None, rq.text
for _ in range(50):
    if not exists(vip_dir):
        break
    time.sleep(0.2)
assert not exists(vip_dir)
print("VIP client sequences: OK")
