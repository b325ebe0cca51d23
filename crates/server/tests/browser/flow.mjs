// The web admin as a person uses it, in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core): log in, back up, watch the
// job finish, download the archive, restore it through the preview and the
// typed confirmation, watch the restore finish, and find the notification.
//
// Run by crates/server/tests/integration/browser.rs, which starts the
// server and an SMTP catcher and passes:
//   TRESOR_URL       the server's base URL
//   TRESOR_USER      an admin's user name
//   TRESOR_PASSWORD  its password
//   TRESOR_SOURCE    the source to back up and restore
//   TRESOR_DB        the SQLite file of that source (changed between the
//                    backup and the restore, so the restore has work to do)
//   TRESOR_OUT       a directory for the download and the screenshots
//   CHROMIUM         the browser (default /usr/bin/chromium)
// Prints one line `RESULT {json}` at the end and exits 0 when every check
// passed; any failure exits 1 with the reason and a screenshot.

import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env("TRESOR_URL").replace(/\/$/, "");
const user = env("TRESOR_USER");
const password = env("TRESOR_PASSWORD");
const source = env("TRESOR_SOURCE", "app");
const db = env("TRESOR_DB");
const out = env("TRESOR_OUT");
const executablePath = env("CHROMIUM", "/usr/bin/chromium");

const started = Date.now();
const step = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const check = (ok, msg) => {
  if (!ok) throw new Error(`check failed: ${msg}`);
};
const sql = (q) => execFileSync("sqlite3", [db, q], { encoding: "utf8" }).trim();

/// The entries of a ZIP file, read from its central directory; returns
/// name -> {method, compressed size, offset of the local header}.
function zipEntries(buf) {
  check(buf.length > 22 && buf.readUInt32LE(0) === 0x04034b50, "the download starts with a ZIP local header");
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  check(eocd >= 0, "the ZIP has an end of central directory record");
  let count = buf.readUInt16LE(eocd + 10);
  let cd = buf.readUInt32LE(eocd + 16);
  // ZIP64: the real values are in the ZIP64 end record.
  if (count === 0xffff || cd === 0xffffffff) {
    const loc = eocd - 20;
    check(buf.readUInt32LE(loc) === 0x07064b50, "ZIP64 locator");
    const rec = Number(buf.readBigUInt64LE(loc + 8));
    count = Number(buf.readBigUInt64LE(rec + 32));
    cd = Number(buf.readBigUInt64LE(rec + 48));
  }
  const entries = new Map();
  let p = cd;
  for (let i = 0; i < count; i++) {
    check(buf.readUInt32LE(p) === 0x02014b50, `central directory entry ${i}`);
    const method = buf.readUInt16LE(p + 10);
    let csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    let offset = buf.readUInt32LE(p + 42);
    const name = buf.toString("utf8", p + 46, p + 46 + nlen);
    // ZIP64 extra field: sizes and offset that did not fit.
    let x = p + 46 + nlen;
    const xend = x + xlen;
    while (x + 4 <= xend) {
      const id = buf.readUInt16LE(x);
      const size = buf.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (buf.readUInt32LE(p + 24) === 0xffffffff) q += 8;
        if (csize === 0xffffffff) {
          csize = Number(buf.readBigUInt64LE(q));
          q += 8;
        }
        if (offset === 0xffffffff) offset = Number(buf.readBigUInt64LE(q));
      }
      x += 4 + size;
    }
    entries.set(name, { method, csize, offset });
    p = xend + clen;
  }
  return entries;
}

function zipRead(buf, entry) {
  const h = entry.offset;
  check(buf.readUInt32LE(h) === 0x04034b50, "local file header");
  const start = h + 30 + buf.readUInt16LE(h + 26) + buf.readUInt16LE(h + 28);
  const data = buf.subarray(start, start + entry.csize);
  if (entry.method === 0) return data;
  check(entry.method === 8, `compression method ${entry.method} is deflate or stored`);
  return inflateRawSync(data);
}

/// Waits on a job page until the job ends; app.js polls the JSON API,
/// updates #job-state and #job-progress, and reloads the page at the end.
/// Returns what was seen while it ran.
async function watchJob(page, what) {
  await page.waitForSelector("#job-state");
  const first = (await page.textContent("#job-state")).trim();
  const live = (await page.getAttribute("#job", "data-active")) === "true";
  step(`${what}: job page ${page.url()} shows "${first}" (live: ${live})`);
  const states = new Set([first]);
  const progress = new Set();
  const deadline = Date.now() + 40_000;
  for (;;) {
    check(Date.now() < deadline, `${what} job finished within 40 s`);
    const s = (await page.textContent("#job-state").catch(() => "")).trim();
    if (s) states.add(s);
    const p = (await page.textContent("#job-progress").catch(() => "")).trim();
    if (p && p !== "–") progress.add(p);
    if (["succeeded", "failed", "cancelled"].includes(s)) {
      // The finished page is reloaded by app.js with the result.
      if (!live || (await page.getAttribute("#job", "data-active").catch(() => null)) === "false") break;
    }
    await page.waitForTimeout(100);
  }
  await page.waitForLoadState("load");
  const state = (await page.textContent("#job-state")).trim();
  const error = (await page.locator("#job-error").count()) ? await page.textContent("#job-error") : null;
  check(state === "succeeded", `${what} job succeeded (state ${state}${error ? `: ${error}` : ""})`);
  step(`${what}: states seen ${[...states].join(" → ")}; progress seen: ${[...progress].slice(0, 4).join(" | ")}`);
  return { live, states: [...states], progress: [...progress], url: page.url() };
}

const shots = [];
async function shot(page, name) {
  const path = join(out, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

/// Fails when the page is wider than its viewport (content that makes a
/// phone scroll sideways; tables in .table-wrap scroll on their own).
async function checkNoSidewaysScroll(page, name) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  check(scroll <= client + 1, `${name} fits the phone's width (${scroll} px wide in ${client} px)`);
}

// A fresh profile, and a phone: everything below happens on a 390 px
// wide touch screen.
const profile = mkdtempSync(join(tmpdir(), "tresor-chromium-"));
const phone = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  acceptDownloads: true,
});
let page;
let exitCode = 1;
try {
  page = await phone.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("console", (m) => {
    // Failed requests are checked by their responses below.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  // Error responses: only the two this script asks for on purpose (a
  // wrong password, a wrong confirmation) are expected.
  const failedResponses = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failedResponses.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });

  // 1. Log in: the dashboard sends us to the login page first.
  await page.goto(`${base}/`);
  check(page.url().includes("/login"), `an anonymous visit lands on the login page (at ${page.url()})`);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", "not-the-password");
  await page.click("button[type=submit]");
  check((await page.textContent("[role=alert]")).includes("wrong user name or password"), "a wrong password is refused");
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  check((await page.textContent("h1")).trim() === "Dashboard", "logged in, the dashboard shows");
  check((await page.textContent("header.top .who")).includes(user), "the header names the user");
  await checkNoSidewaysScroll(page, "the dashboard");
  await shot(page, "1-dashboard-phone");
  step("logged in");

  // 2. Back up now, from the source's card.
  const card = page.locator(`article[data-source="${source}"]`);
  await Promise.all([
    page.waitForURL(/\/jobs\/\d+$/),
    card.locator("button", { hasText: "Back up now" }).click(),
  ]);
  const backupJobId = Number(page.url().split("/").pop());
  const backup = await watchJob(page, "backup");
  check(
    backup.live && backup.states.some((s) => s === "running" || s === "queued"),
    `the backup was watched live while it ran (states ${backup.states.join(", ")})`,
  );
  check(backup.progress.some((p) => / rows /.test(p)), "live progress showed rows");
  check((await page.textContent("#job-result")).includes("rows"), "the finished job shows its figures");
  await checkNoSidewaysScroll(page, "the job page");
  await shot(page, "2-backup-job-phone");

  // 3. The snapshot: open it from the job's result.
  await Promise.all([page.waitForURL(/\/snapshots\/[0-9a-f]+$/), page.click("#job-snapshot")]);
  const snapshotId = page.url().split("/").pop();
  check(snapshotId.length >= 32, `the snapshot page's URL carries the full id (${snapshotId})`);
  const tableNames = await page.locator("h2:has-text('Tables') + .table-wrap tbody tr td:first-child").allTextContents();
  check(["customers", "orders", "events"].every((t) => tableNames.includes(t)), `the snapshot lists its tables (${tableNames})`);
  await checkNoSidewaysScroll(page, "the snapshot page");

  // 4. Download the ZIP and check it: a ZIP whose metadata.json names the
  // snapshot and whose tables are there.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-zip")]);
  const zipPath = join(out, download.suggestedFilename() || "snapshot.zip");
  await download.saveAs(zipPath);
  check(zipPath.endsWith(".zip"), `the download is named .zip (${zipPath})`);
  const zip = readFileSync(zipPath);
  const entries = zipEntries(zip);
  check(entries.has("metadata.json"), `the ZIP holds metadata.json (it holds ${[...entries.keys()].join(", ")})`);
  const metadata = JSON.parse(zipRead(zip, entries.get("metadata.json")).toString("utf8"));
  const metaText = JSON.stringify(metadata);
  check(metaText.includes(snapshotId), "metadata.json names the snapshot");
  check(metaText.includes("customers"), "metadata.json lists the customers table");
  step(`downloaded ${zipPath}: ${zip.length} bytes, ${entries.size} entries`);

  // 5. Change the database so the restore has something to do.
  const before = Number(sql("SELECT count(*) FROM customers"));
  sql(
    "PRAGMA foreign_keys=OFF; DELETE FROM orders WHERE id > " + (before - 5) +
      "; DELETE FROM customers WHERE id > " + (before - 5) +
      "; UPDATE customers SET name = 'changed' WHERE id = 1; INSERT INTO events VALUES ('2025-02-02', 'extra');",
  );
  step(`changed the database: 5 customers and 5 orders deleted, 1 customer renamed, 1 event added`);

  // 6. Restore: the wizard, its preview, then the typed confirmation.
  await page.selectOption("#restore-form select[name=target]", source);
  await page.check("#restore-form input[name=mode][value=replace]");
  await Promise.all([page.waitForURL(/\/preview$/), page.click("#restore-form button[type=submit]")]);
  check((await page.textContent("h1")).includes("Restore preview"), "the preview page shows");
  const rows = {};
  for (const tr of await page.locator("#preview-table tbody tr").all()) {
    const cells = (await tr.locator("td").allTextContents()).map((c) => c.trim());
    rows[cells[0]] = { inserted: Number(cells[4]), updated: Number(cells[5]), deleted: Number(cells[6]) };
  }
  step(`preview: ${JSON.stringify(rows)}`);
  check(rows.customers?.inserted === 5 && rows.customers?.updated === 1, `the preview puts back 5 customers and renames 1 (${JSON.stringify(rows.customers)})`);
  check(rows.orders?.inserted === 5, "the preview puts back 5 orders");
  check(rows.events?.deleted === 1, "the preview deletes the added event");
  await checkNoSidewaysScroll(page, "the preview");
  await shot(page, "3-restore-preview-phone");

  // A wrong confirmation is refused and changes nothing.
  const codes = await page.locator("#confirm-form").locator("xpath=..").locator("p code").allTextContents();
  const [confirmTarget, confirmSnapshot] = codes;
  check(confirmTarget === source && confirmSnapshot && snapshotId.startsWith(confirmSnapshot), `the confirmation asks for the target and the snapshot (${codes})`);
  await page.fill("#confirm-form input[name=confirm_target]", "somewhere-else");
  await page.fill("#confirm-form input[name=confirm_snapshot]", confirmSnapshot);
  const wrong = await Promise.all([page.waitForNavigation(), page.click("#confirm-form button[type=submit]")]);
  check(wrong[0] && wrong[0].status() >= 400, `a wrong target is refused (status ${wrong[0] && wrong[0].status()})`);
  check(Number(sql("SELECT count(*) FROM customers")) === before - 5, "nothing was restored after a wrong confirmation");
  check((await page.textContent("main")).includes("does not name this restore"), "the refusal says why");
  // The error page's Back link returns to the preview, still valid.
  await page.click("a:has-text('Back')");
  await page.waitForSelector("#confirm-form");

  await page.fill("#confirm-form input[name=confirm_target]", confirmTarget);
  await page.fill("#confirm-form input[name=confirm_snapshot]", confirmSnapshot);
  await Promise.all([page.waitForURL(/\/jobs\/\d+$/), page.click("#confirm-form button[type=submit]")]);
  const restoreJobId = Number(page.url().split("/").pop());
  const restore = await watchJob(page, "restore");
  check((await page.textContent("h1")).includes("restore"), "the job page is the restore's");
  await shot(page, "4-restore-job-phone");
  check(Number(sql("SELECT count(*) FROM customers")) === before, "the customers are back");
  check(sql("SELECT name FROM customers WHERE id = 1") === "Customer 1", "the renamed customer has its name back");
  check(Number(sql("SELECT count(*) FROM events")) === 1, "the added event is gone");

  // 7. Jobs list shows both jobs as succeeded.
  await page.goto(`${base}/jobs`);
  for (const id of [backupJobId, restoreJobId]) {
    const row = page.locator("table.list tbody tr", { has: page.locator(`a[href="/jobs/${id}"]`) });
    check((await row.locator(".state").textContent()).trim() === "succeeded", `job ${id} is listed as succeeded`);
  }

  // 8. The notification: the backup's email is listed as sent, on the
  // backup's job page and in the settings' delivery list.
  let sent = false;
  for (let i = 0; i < 50 && !sent; i++) {
    await page.goto(`${base}/jobs/${backupJobId}`);
    const rowsText = await page.locator("h2:has-text('Notifications') + .table-wrap tbody tr").allTextContents();
    sent = rowsText.some((r) => r.includes("email") && r.includes("backup-success") && r.includes("sent"));
    if (!sent) await page.waitForTimeout(200);
  }
  check(sent, "the backup's job page lists the email as sent");
  await shot(page, "5-backup-job-with-email-phone");
  await page.goto(`${base}/settings`);
  const deliveries = await page.locator("#deliveries tbody tr").allTextContents();
  check(deliveries.some((r) => r.includes("email") && r.includes("sent")), `the settings page lists the email delivery (${deliveries})`);
  await checkNoSidewaysScroll(page, "the settings page");
  await page.goto(`${base}/`);
  await shot(page, "6-dashboard-after-phone");

  // 9. The same dashboard on a desktop screen.
  const wide = await phone.newPage();
  await wide.setViewportSize({ width: 1280, height: 900 });
  await wide.goto(`${base}/`);
  check((await wide.textContent("h1")).trim() === "Dashboard", "the session works in a second window");
  await wide.screenshot({ path: join(out, "7-dashboard-desktop.png"), fullPage: true });
  shots.push(join(out, "7-dashboard-desktop.png"));

  check(consoleErrors.length === 0, `no JavaScript errors (${consoleErrors.join("; ")})`);
  const expected = ["401 POST /login", "400 POST /restore"];
  check(
    failedResponses.length === expected.length && failedResponses.every((r, i) => r === expected[i]),
    `no request failed but the two refused on purpose (${failedResponses.join("; ")})`,
  );
  console.log(
    "RESULT " +
      JSON.stringify({ backupJobId, restoreJobId, snapshotId, zip: zipPath, zipEntries: [...entries.keys()], preview: rows, backup, restore, screenshots: shots }),
  );
  step("all checks passed");
  exitCode = 0;
} catch (e) {
  console.error(`FAILED: ${e.stack || e}`);
  if (page) {
    await page.screenshot({ path: join(out, "failure.png"), fullPage: true }).catch(() => {});
    console.error(`at ${page.url()}; screenshot ${join(out, "failure.png")}`);
  }
} finally {
  await phone.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exitCode);
