// The portal of ferry serve in headless Chromium (tests/cli/serve-portal.bats):
// log in, upload an input, launch the sample tool from its generated form
// (a validation error shown beside its field first), watch it finish, read
// stdout, download the result and check its content, delete it.
// Usage: node serve-portal.js URL USER PASSWORD INPUT_FILE DOWNLOAD_DIR SCREENSHOT
"use strict";
const path = require("path");
const fs = require("fs");
const puppeteer = require("puppeteer-core");

const [url, user, password, input, dldir, shot] = process.argv.slice(2);
let step = "start";
const say = (s) => { step = s; console.log("-- " + s); };

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(60000);
  page.on("dialog", (d) => d.accept());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    say("log in");
    await page.goto(url + "/", { waitUntil: "load" });
    await page.type("#login-user", user);
    await page.type("#login-pass", "wrong-password");
    await page.click("#login-submit");
    await page.waitForFunction(() => document.querySelector("#login-error").textContent.length > 0);
    await page.$eval("#login-pass", (e) => { e.value = ""; });
    await page.type("#login-pass", password);
    await page.click("#login-submit");
    await page.waitForSelector("#nav:not([hidden])");

    say("upload an input in the file browser");
    await page.click('button[data-tab="files"]');
    const up = await page.$("#upload-file");
    await up.uploadFile(input);
    await page.click("#upload");
    const name = path.basename(input);
    await page.waitForSelector(`tr[data-path="/${user}/${name}"]`);
    const pv = await page.$eval("#upload-progress", (e) => e.value);
    if (pv !== 100) throw new Error("upload progress ended at " + pv);

    say("search the pipelines, open the launch form");
    await page.click('button[data-tab="pipelines"]');
    await page.type("#pipeline-search", "echo");
    await page.waitForSelector('li[data-id="echo-tool/1.0"]');
    const n = await page.$$eval("#pipeline-list li", (l) => l.length);
    if (n !== 1) throw new Error("search 'echo' shows " + n + " pipelines");
    await page.click('li[data-id="echo-tool/1.0"]');
    await page.waitForSelector("#in-infile");

    say("a validation error shows beside its field");
    await page.type("#in-infile", `/${user}/missing.txt`);
    await page.type("#in-n", "1.5");
    await page.click("#launch-submit");
    await page.waitForFunction(() => document.querySelector("#err-n").textContent.includes("integer"));
    await page.$eval("#in-n", (e) => { e.value = ""; });
    await page.type("#in-n", "3");
    await page.click("#launch-submit");
    await page.waitForFunction(() => document.querySelector("#err-infile").textContent.includes("no such file"));

    say("pick the input with the file browser and launch");
    await page.$eval("#in-infile", (e) => { e.value = ""; });
    await page.click('.field[data-input="infile"] button.browse');
    await page.waitForSelector("#picker-list a.pick");
    const picks = await page.$$("#picker-list a.pick");
    let picked = false;
    for (const p of picks) {
      if ((await p.evaluate((e) => e.textContent)) === name) { await p.click(); picked = true; break; }
    }
    if (!picked) throw new Error("the picker does not list " + name);
    const v = await page.$eval("#in-infile", (e) => e.value);
    if (v !== `/${user}/${name}`) throw new Error("picked " + v);
    await page.click("#launch-submit");

    say("watch it finish");
    await page.waitForSelector("#executions:not([hidden])");
    await page.waitForFunction(() => {
      const c = document.querySelector("#exec-table tbody tr td.status");
      return c && c.textContent === "Finished";
    }, { timeout: 120000 });
    await page.$eval("#exec-table tbody tr button.show", (b) => b.click());
    await page.waitForSelector("#exec-results a.result");
    await page.waitForFunction(() => document.querySelector("#exec-stdout").textContent.includes("done 3"));

    say("download the result");
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: dldir });
    await page.$eval("#exec-results a.result", (a) => a.click());
    const want = path.join(dldir, "out.txt");
    for (let i = 0; i < 200 && !fs.existsSync(want); i++) await new Promise((r) => setTimeout(r, 100));
    const got = fs.readFileSync(want, "utf8");
    const exp = fs.readFileSync(input, "utf8");
    if (got !== exp) throw new Error("downloaded " + JSON.stringify(got) + ", expected " + JSON.stringify(exp));

    say("delete the execution");
    await page.$eval("#exec-table tbody tr button.delete", (b) => b.click());
    await page.waitForFunction(() => document.querySelectorAll("#exec-table tbody tr").length === 0);
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    console.log("portal: OK");
    await browser.close();
  } catch (e) {
    console.log("FAILED at step '" + step + "': " + e.message);
    try { await page.screenshot({ path: shot, fullPage: true }); console.log("screenshot: " + shot); } catch (e2) { /* none */ }
    await browser.close();
    process.exit(1);
  }
})();
