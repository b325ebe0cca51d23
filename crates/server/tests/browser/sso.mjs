// Single sign-on as people use it, in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a tresor server
// and a real OpenID Connect provider (provider.mjs), each in a fresh
// browser context:
//   ada (group tresor-admins -> admin) signs in with the provider's button,
//       lands on the snapshot she asked for, and restores it through the
//       preview and the typed confirmation;
//   bob (group staff -> viewer) sees no restore form, and the restore form's
//       POST and the admin-only upload page answer 403;
//   eve (group sales, mapped to nothing) is refused with a page that says why;
//   a person who cancels at the provider gets a page that says so;
//   once the provider publishes a wrong key, ada's ID token is refused.
// The browser reaches only loopback addresses (everything else is aborted).
//
// Run by crates/server/tests/integration/sso.rs, which passes:
//   TRESOR_URL       the tresor server's base URL
//   TRESOR_SNAPSHOT  a snapshot id of the source `app`
//   OIDC_ISSUER      the provider (provider.mjs)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   TRESOR_OUT       optional: a directory for screenshots
// Prints one line `RESULT {json}` at the end and exits 0 when every check
// passed; any failure exits 1 with the reason.

import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env("TRESOR_URL").replace(/\/$/, "");
const snapshot = env("TRESOR_SNAPSHOT");
const issuer = env("OIDC_ISSUER");
const executablePath = env("CHROMIUM", "/usr/bin/chromium");
const tresor = new URL(base).origin;
const out = process.env.TRESOR_OUT;
const shot = async (page, name) => {
  if (out) await page.screenshot({ path: `${out}/sso-${name}.png`, fullPage: true });
};

const started = Date.now();
const step = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const check = (ok, msg) => {
  if (!ok) throw new Error(`check failed: ${msg}`);
};
const loopback = (u) => {
  try {
    const host = new URL(u).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]" || u.startsWith("data:");
  } catch {
    return false;
  }
};

const browser = await chromium.launch({
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
});

/// A fresh browser context that asks for the snapshot page, is sent to the
/// login page, and follows "Sign in with ..." to the provider's login page.
async function toProvider() {
  const context = await browser.newContext();
  await context.route("**/*", (route) =>
    loopback(route.request().url()) ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  await page.goto(`${base}/snapshots/${snapshot}`);
  check(new URL(page.url()).pathname === "/login", `the snapshot page sends to the login page (${page.url()})`);
  const button = page.locator("#sso");
  check((await button.textContent()).trim() === "Sign in with Test ID", "the login page offers the provider");
  await shot(page, "login");
  await Promise.all([page.waitForSelector("input[name=login]"), button.click()]);
  check(new URL(page.url()).origin !== tresor, `the browser is at the provider (${page.url()})`);
  return { context, page };
}

/// Signs `login` in at the provider; resolves once the browser is back at
/// tresor and settled on `landing` (a path, or a RegExp).
async function signIn(login, landing) {
  const { context, page } = await toProvider();
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", "any password");
  await Promise.all([
    page.waitForURL((u) => u.origin === tresor && (landing instanceof RegExp ? landing.test(u.pathname) : u.pathname === landing)),
    page.click("button[type=submit]"),
  ]);
  await page.waitForLoadState();
  return { context, page };
}

let exitCode = 1;
const result = {};
try {
  // ada: admin through her group; restores the snapshot.
  {
    const { context, page } = await signIn("ada", `/snapshots/${snapshot}`);
    step(`ada is back at ${page.url()}`);
    check((await page.textContent(".who")).trim() === "ada (admin)", "ada is signed in as an admin");
    const upload = await page.goto(`${base}/upload`);
    check(upload.status() === 200, `ada may open the upload page (${upload.status()})`);
    await page.goto(`${base}/snapshots/${snapshot}`);
    await page.selectOption("#restore-form select[name=target]", "app");
    await page.check("#restore-form input[name=mode][value=replace]");
    await Promise.all([page.waitForURL(/\/preview$/), page.click("#restore-form button[type=submit]")]);
    const codes = await page.locator("#confirm-form").locator("xpath=..").locator("p code").allTextContents();
    const [target, snap] = codes;
    await page.fill("#confirm-form input[name=confirm_target]", target);
    await page.fill("#confirm-form input[name=confirm_snapshot]", snap);
    await Promise.all([page.waitForURL(/\/jobs\/\d+$/), page.click("#confirm-form button[type=submit]")]);
    result.restoreJobId = Number(new URL(page.url()).pathname.split("/").pop());
    step(`ada started restore job ${result.restoreJobId}`);
    await context.close();
  }

  // bob: a viewer through his group; no restore.
  {
    const { context, page } = await signIn("bob", `/snapshots/${snapshot}`);
    check((await page.textContent(".who")).trim() === "bob (viewer)", "bob is signed in as a viewer");
    check((await page.locator("#restore-form").count()) === 0, "bob's snapshot page has no restore form");
    const csrf = await page.locator("input[name=csrf]").first().inputValue();
    const post = await page.request.post(`${base}/restore`, {
      form: { csrf, snapshot, target: "app", mode: "replace" },
      headers: { Origin: tresor },
    });
    check(post.status() === 403, `bob's restore POST is refused (${post.status()})`);
    const upload = await page.goto(`${base}/upload`);
    check(upload.status() === 403, `bob may not open the upload page (${upload.status()})`);
    result.viewerRestoreStatus = post.status();
    step("bob signed in as a viewer and could not restore");
    await context.close();
  }

  // eve: her group maps to no role.
  {
    const { context, page } = await signIn("eve", "/login/oidc/callback");
    const text = await page.textContent("main");
    check(text.includes("none of your groups (sales) has access to tresor"), `eve is told why (${text})`);
    check(text.includes("tresor-admins"), "the refusal names the groups that have access");
    await shot(page, "refused");
    step("eve was refused");
    await context.close();
  }

  // someone who cancels at the provider.
  {
    const { context, page } = await toProvider();
    await Promise.all([
      page.waitForURL((u) => u.origin === tresor && u.pathname === "/login/oidc/callback"),
      page.click("text=[ Cancel ]"),
    ]);
    const text = await page.textContent("main");
    check(text.includes("refused the sign-in: access_denied"), `a cancelled sign-in says so (${text})`);
    step("a cancelled sign-in was refused");
    await context.close();
  }
  // an ID token whose signature does not verify against the published keys
  {
    const r = await fetch(`${issuer}/test/wrong-keys`, { method: "POST" });
    check(r.status === 204, "the provider now publishes a wrong key");
    const { context, page } = await signIn("ada", "/login/oidc/callback");
    const text = await page.textContent("main");
    check(text.includes("ID token is not valid"), `a token with a bad signature is refused (${text})`);
    step("an ID token with a bad signature was refused");
    await context.close();
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
  exitCode = 0;
} catch (e) {
  console.error(String(e.stack ?? e));
} finally {
  await browser.close();
}
process.exit(exitCode);
