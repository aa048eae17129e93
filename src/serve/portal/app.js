// ferry serve's portal: plain JavaScript over the CARMIN API (no framework,
// nothing fetched from elsewhere). The API key lives in sessionStorage.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};

const state = {
  key: sessionStorage.getItem("ferry-key"),
  user: sessionStorage.getItem("ferry-user"),
  cwd: null,
  pipelines: [],
  timer: null,
  detail: null,
};

async function api(method, path, body, headers = {}) {
  const h = Object.assign({}, headers);
  if (state.key) h.apikey = state.key;
  const opts = { method, headers: h };
  if (body !== undefined) {
    if (typeof body === "string" || body instanceof Blob) opts.body = body;
    else { opts.body = JSON.stringify(body); h["Content-Type"] = "application/json"; }
  }
  const r = await fetch(path, opts);
  if (r.status === 401 && path !== "/authenticate") { logout(); throw new Error("your session has ended: log in again"); }
  const ct = r.headers.get("Content-Type") || "";
  let data = null;
  if (ct.startsWith("application/json")) data = await r.json();
  else if (r.status !== 204) data = await r.text();
  if (!r.ok) {
    const err = new Error((data && data.errorMessage) || ("HTTP " + r.status));
    err.details = data && data.errorDetails;
    throw err;
  }
  return data;
}

const enc = (p) => p.split("/").map(encodeURIComponent).join("/");

// ---- login ----
$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    const user = $("#login-user").value.trim();
    const a = await api("POST", "/authenticate", { username: user, password: $("#login-pass").value });
    state.key = a.httpHeaderValue;
    state.user = user;
    sessionStorage.setItem("ferry-key", state.key);
    sessionStorage.setItem("ferry-user", user);
    start();
  } catch (e) {
    $("#login-error").textContent = e.message;
  }
});

function logout() {
  sessionStorage.removeItem("ferry-key");
  sessionStorage.removeItem("ferry-user");
  state.key = state.user = null;
  clearInterval(state.timer);
  $("#nav").hidden = true;
  for (const s of ["pipelines", "executions", "files"]) $("#" + s).hidden = true;
  $("#login").hidden = false;
}
$("#logout").addEventListener("click", logout);

function show(tab) {
  for (const s of ["pipelines", "executions", "files"]) $("#" + s).hidden = s !== tab;
  for (const b of document.querySelectorAll("button.tab")) b.classList.toggle("active", b.dataset.tab === tab);
  if (tab === "executions") refreshExecutions();
  if (tab === "files") listFiles();
}
for (const b of document.querySelectorAll("button.tab")) b.addEventListener("click", () => show(b.dataset.tab));

async function start() {
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#who").textContent = state.user;
  state.cwd = "/" + state.user;
  show("pipelines");
  try {
    state.pipelines = await api("GET", "/pipelines");
  } catch (e) { state.pipelines = []; }
  renderPipelines();
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (!$("#executions").hidden) refreshExecutions(); }, 1500);
}

// ---- pipelines and the launch form ----
$("#pipeline-search").addEventListener("input", renderPipelines);

function renderPipelines() {
  const q = $("#pipeline-search").value.toLowerCase();
  const ul = $("#pipeline-list");
  ul.replaceChildren();
  for (const p of state.pipelines) {
    const text = (p.identifier + " " + p.name + " " + (p.description || "")).toLowerCase();
    if (q && !text.includes(q)) continue;
    ul.append(el("li", { "data-id": p.identifier, onclick: () => openLaunch(p) },
      el("strong", {}, p.name), " ", el("span", { class: "hint" }, p.version), el("br"),
      el("span", {}, p.description || "")));
  }
}

let current = null; // { pipeline, desc }

async function openLaunch(p) {
  const desc = await api("GET", "/pipelines/" + enc(p.identifier) + "/boutiquesdescriptor");
  current = { pipeline: p, desc };
  $("#launch").hidden = false;
  $("#launch-title").textContent = p.name + " " + p.version;
  $("#launch-desc").textContent = desc.description || "";
  $("#exec-name").value = p.name + "-" + new Date().toISOString().slice(0, 19).replace(/[:T]/g, "");
  $("#launch-error").textContent = "";
  const box = $("#launch-fields");
  box.replaceChildren();
  for (const inp of desc.inputs || []) box.append(fieldFor(inp));
}

function fieldFor(inp) {
  const id = "in-" + inp.id;
  const wrap = el("div", { class: "field", "data-input": inp.id });
  const label = el("label", { for: id }, inp.name || inp.id, inp.optional ? " (optional)" : " *");
  wrap.append(label);
  let control;
  const dv = inp["default-value"];
  if (inp["value-choices"]) {
    control = el("select", { id });
    if (inp.optional) control.append(el("option", { value: "" }, "—"));
    for (const c of inp["value-choices"]) control.append(el("option", { value: JSON.stringify(c) }, String(c)));
    if (dv !== undefined) control.value = JSON.stringify(dv);
  } else if (inp.type === "Flag") {
    control = el("input", { id, type: "checkbox" });
    control.checked = dv === true;
  } else if (inp.list) {
    control = el("textarea", { id, rows: "3", placeholder: "one value per line" });
    if (Array.isArray(dv)) control.value = dv.join("\n");
  } else if (inp.type === "Number") {
    control = el("input", { id, type: "number", step: inp.integer ? "1" : "any" });
    if (inp.minimum !== undefined) control.min = inp.minimum;
    if (inp.maximum !== undefined) control.max = inp.maximum;
    if (dv !== undefined) control.value = dv;
  } else {
    control = el("input", { id, type: "text" });
    if (dv !== undefined) control.value = dv;
  }
  wrap.append(control);
  if (inp.type === "File") {
    const browse = el("button", { type: "button", class: "browse", onclick: () => pick(control) }, "Browse…");
    const up = el("input", { type: "file", class: "file-upload", "aria-label": "Upload for " + inp.id });
    up.addEventListener("change", async () => {
      if (!up.files.length) return;
      const f = up.files[0];
      const dest = "/" + state.user + "/" + f.name;
      try {
        await uploadFile(f, dest, null);
        control.value = dest;
      } catch (e) { setFieldError(inp.id, e.message); }
    });
    wrap.append(browse, up);
  }
  if (inp.description) wrap.append(el("div", { class: "hint" }, inp.description));
  wrap.append(el("div", { class: "field-error", id: "err-" + inp.id }));
  return wrap;
}

function setFieldError(id, msg) {
  const e = document.getElementById("err-" + id);
  if (e) { e.textContent = msg; e.parentElement.classList.toggle("invalid", !!msg); }
  else $("#launch-error").textContent = (id ? id + ": " : "") + msg;
}

function readValue(inp) {
  const c = document.getElementById("in-" + inp.id);
  if (inp["value-choices"]) return c.value === "" ? undefined : JSON.parse(c.value);
  if (inp.type === "Flag") return c.checked ? true : (inp.optional ? undefined : false);
  const raw = c.value.trim();
  if (raw === "") return undefined;
  const one = (s) => {
    if (inp.type !== "Number") return s;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new Error("not a number");
    if (inp.integer && !Number.isInteger(n)) throw new Error("must be an integer");
    if (inp.minimum !== undefined && n < inp.minimum) throw new Error("must be ≥ " + inp.minimum);
    if (inp.maximum !== undefined && n > inp.maximum) throw new Error("must be ≤ " + inp.maximum);
    return n;
  };
  if (inp.list) return raw.split("\n").map((s) => s.trim()).filter((s) => s).map(one);
  return one(raw);
}

$("#launch-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!current) return;
  $("#launch-error").textContent = "";
  const values = {};
  let bad = false;
  for (const inp of current.desc.inputs || []) {
    setFieldError(inp.id, "");
    try {
      const v = readValue(inp);
      if (v === undefined) {
        if (!inp.optional && inp["default-value"] === undefined) { setFieldError(inp.id, "required"); bad = true; }
      } else values[inp.id] = v;
    } catch (e) { setFieldError(inp.id, e.message); bad = true; }
  }
  if (bad) return;
  try {
    const ex = await api("POST", "/executions", {
      name: $("#exec-name").value || current.pipeline.name,
      pipelineIdentifier: current.pipeline.identifier, inputValues: values,
    });
    state.detail = ex.identifier;
    show("executions");
  } catch (e) {
    const probs = (e.details && e.details.problems) || [];
    if (probs.length) for (const p of probs) setFieldError(p.input, p.message);
    else $("#launch-error").textContent = e.message;
  }
});

// ---- executions ----
const terminal = new Set(["Finished", "ExecutionFailed", "InitializationFailed", "Killed", "Unknown"]);

async function refreshExecutions() {
  let list;
  try { list = await api("GET", "/executions"); } catch (e) { return; }
  const tb = $("#exec-table tbody");
  tb.replaceChildren();
  for (const x of list) {
    const started = x.startDate ? new Date(x.startDate * 1000).toLocaleString() : "";
    const acts = el("td", {},
      el("button", { class: "show", onclick: () => { state.detail = x.identifier; showDetail(); } }, "Show"), " ");
    if (!terminal.has(x.status)) acts.append(el("button", { class: "kill", onclick: () => act("PUT", x, "/kill") }, "Kill"), " ");
    acts.append(el("button", { class: "delete", onclick: () => act("DELETE", x, "?deleteFiles=true") }, "Delete"));
    tb.append(el("tr", { "data-id": x.identifier }, el("td", {}, x.name), el("td", {}, x.pipelineIdentifier),
      el("td", { class: "status status-" + x.status }, x.status), el("td", {}, started), acts));
  }
  if (state.detail) showDetail();
}

async function act(method, x, suffix) {
  if (method === "DELETE" && !confirm("Delete " + x.name + " and its result files?")) return;
  try { await api(method, "/executions/" + encodeURIComponent(x.identifier) + suffix); } catch (e) { alert(e.message); }
  if (method === "DELETE" && state.detail === x.identifier) { state.detail = null; $("#exec-detail").hidden = true; }
  refreshExecutions();
}

async function showDetail() {
  const id = state.detail;
  let x;
  try { x = await api("GET", "/executions/" + encodeURIComponent(id)); } catch (e) { return; }
  $("#exec-detail").hidden = false;
  $("#exec-detail-title").textContent = x.name + " — " + x.status;
  $("#exec-stdout").textContent = await api("GET", "/executions/" + encodeURIComponent(id) + "/stdout");
  $("#exec-stderr").textContent = await api("GET", "/executions/" + encodeURIComponent(id) + "/stderr");
  const ul = $("#exec-results");
  const res = terminal.has(x.status) ? await api("GET", "/executions/" + encodeURIComponent(id) + "/results") : [];
  const sig = id + JSON.stringify(res.map((p) => p.platformPath));
  if (ul.dataset.sig === sig) return; // unchanged: keep the links (and a click on one)
  ul.dataset.sig = sig;
  ul.replaceChildren();
  {
    for (const p of res) ul.append(el("li", {}, el("a", { href: "#", class: "result", onclick: (ev) => { ev.preventDefault(); download(p.platformPath); } }, p.platformPath)));
  }
}

// ---- files ----
async function listFiles() {
  $("#cwd").textContent = state.cwd;
  $("#files-error").textContent = "";
  const tb = $("#file-table tbody");
  let list;
  try { list = await api("GET", "/path" + enc(state.cwd) + "?action=list"); }
  catch (e) { $("#files-error").textContent = e.message; return; }
  tb.replaceChildren();
  for (const p of list) {
    const name = p.platformPath.split("/").pop();
    const n = p.isDirectory
      ? el("a", { class: "dir", onclick: () => { state.cwd = p.platformPath; listFiles(); } }, name + "/")
      : el("a", { href: "#", class: "file", onclick: (ev) => { ev.preventDefault(); download(p.platformPath); } }, name);
    tb.append(el("tr", { "data-path": p.platformPath }, el("td", {}, n), el("td", {}, p.size),
      el("td", {}, new Date(p.lastModificationDate * 1000).toLocaleString()),
      el("td", {}, el("button", { class: "rm", onclick: () => remove(p.platformPath) }, "Delete"))));
  }
}

$("#up-dir").addEventListener("click", () => {
  const parts = state.cwd.split("/");
  if (parts.length > 2) { parts.pop(); state.cwd = parts.join("/"); }
  listFiles();
});

$("#mkdir").addEventListener("click", async () => {
  const n = $("#mkdir-name").value.trim();
  if (!n) return;
  try { await api("PUT", "/path" + enc(state.cwd + "/" + n)); $("#mkdir-name").value = ""; }
  catch (e) { $("#files-error").textContent = e.message; }
  listFiles();
});

function uploadFile(file, dest, bar) {
  // XMLHttpRequest, for its upload progress events
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", "/path" + enc(dest));
    x.setRequestHeader("apikey", state.key);
    x.setRequestHeader("Content-Type", "application/octet-stream");
    if (bar) {
      bar.hidden = false; bar.value = 0;
      x.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
    }
    x.onload = () => {
      if (bar) bar.value = 100;
      if (x.status === 201) resolve();
      else { let m = "HTTP " + x.status; try { m = JSON.parse(x.responseText).errorMessage; } catch (e) { /* not JSON */ } reject(new Error(m)); }
    };
    x.onerror = () => reject(new Error("upload failed"));
    x.send(file);
  });
}

$("#upload").addEventListener("click", async () => {
  const f = $("#upload-file").files[0];
  if (!f) return;
  try { await uploadFile(f, state.cwd + "/" + f.name, $("#upload-progress")); }
  catch (e) { $("#files-error").textContent = e.message; }
  listFiles();
});

async function remove(p) {
  if (!confirm("Delete " + p + "?")) return;
  try { await api("DELETE", "/path" + enc(p)); } catch (e) { $("#files-error").textContent = e.message; }
  listFiles();
}

async function download(p) {
  const r = await fetch("/path" + enc(p) + "?action=content", { headers: { apikey: state.key } });
  if (!r.ok) { alert("download failed: HTTP " + r.status); return; }
  const blob = await r.blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: p.split("/").pop() });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ---- the file picker of File inputs ----
async function pick(target) {
  const dlg = $("#picker");
  let dir = "/" + state.user;
  const render = async () => {
    $("#picker-path").textContent = dir;
    const ul = $("#picker-list");
    ul.replaceChildren();
    const list = await api("GET", "/path" + enc(dir) + "?action=list");
    if (dir.split("/").length > 2) ul.append(el("li", {}, el("a", { class: "dir", onclick: () => { dir = dir.split("/").slice(0, -1).join("/"); render(); } }, "..")));
    for (const p of list) {
      const name = p.platformPath.split("/").pop();
      ul.append(el("li", {}, el("a", {
        class: p.isDirectory ? "dir" : "pick",
        onclick: () => { if (p.isDirectory) { dir = p.platformPath; render(); } else { target.value = p.platformPath; dlg.close(); } },
      }, p.isDirectory ? name + "/" : name)));
    }
  };
  await render();
  dlg.showModal();
}
$("#picker-close").addEventListener("click", () => $("#picker").close());

if (state.key && state.user) start();
