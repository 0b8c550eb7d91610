// The dashboard end to end in Debian's Chromium, driven by playwright-core: an admin installs
// the WordPress connector from the registry after reviewing it; a member connects the test
// WordPress (after the consent screen), builds the users import in the builder with a
// mapping, runs it, watches its progress, and finds the users in the data store and the steps
// in the run log. A screenshot of each page goes to $SCREENSHOTS.
//
// Started by tests/all/dashboard.rs, which sets up the servers and passes them in the
// environment; exits non-zero (with a screenshot of the failure) when a step fails.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const URL = env("HEPH_URL");
const SHOTS = env("SCREENSHOTS");
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(20000);
const errors = [];
page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) errors.push(`console: ${m.text()}`); });

let shot = 0;
async function step(name, action) {
  process.stdout.write(`- ${name}\n`);
  await action();
  if (errors.length) throw new Error(`the page reported errors:\n${errors.join("\n")}`);
  await page.screenshot({ path: join(SHOTS, `${String(++shot).padStart(2, "0")}-${name.replace(/[^a-z0-9]+/gi, "-")}.png`), fullPage: true });
}

async function signIn(name, password) {
  await page.goto(URL + "/");
  await page.getByLabel("Name").waitFor();
  // By keyboard, as a person would: the name field has the focus.
  await page.keyboard.type(name);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: `Welcome, ${name}` }).waitFor();
}

const expect = async (locator, what) => {
  try { await locator.first().waitFor(); } catch (e) { throw new Error(`expected ${what}: ${e.message.split("\n")[0]}`); }
};

try {
  await step("sign-in page", async () => {
    await page.goto(URL + "/");
    await expect(page.getByRole("heading", { name: "Sign in to Heph" }), "the sign-in form");
    await page.getByLabel("Name").fill(env("ADMIN_NAME"));
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").filter({ hasText: /password is wrong/ }), "a refused sign-in");
  });

  await step("admin home", () => signIn(env("ADMIN_NAME"), env("ADMIN_PASSWORD")));

  await step("registry search", async () => {
    await page.getByRole("link", { name: "Registry" }).click();
    await page.getByLabel("Search the registry").fill("wordpress");
    await page.getByRole("button", { name: "Search" }).click();
    await expect(page.getByRole("link", { name: "Review and install" }), "WordPress in the registry, not installed");
  });

  await step("capability review", async () => {
    await page.getByRole("link", { name: "Review and install" }).click();
    await page.locator('[data-install="0.1.0"]').click();
    const review = page.locator('[data-review="wordpress"]');
    await expect(review.getByText("{site_url}"), "the hosts under review");
    await expect(review.getByText("Signs in with: basic"), "the sign-in kind under review");
    await expect(review.getByText("first install"), "why approval is needed");
  });

  await step("installed", async () => {
    await page.getByRole("button", { name: /Approve and install WordPress/ }).click();
    await expect(page.getByText("Installed here: 0.1.0"), "WordPress installed");
  });

  await step("admin connectors", async () => {
    await page.getByRole("link", { name: "Connectors" }).click();
    const row = page.locator('[data-connector="wordpress"]');
    await row.getByRole("button", { name: "Allow private network" }).click();
    await expect(row.getByRole("button", { name: "Deny private network" }), "private network allowed");
  });

  await step("admin users", async () => {
    // A user made, promoted and deleted again: the form, the role list and the delete dialog.
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByLabel("Name", { exact: true }).fill("intern");
    await page.getByRole("button", { name: "Create user" }).click();
    const row = page.locator('[data-user="intern"]');
    await expect(row, "the new user listed");
    await row.getByLabel("Role of intern").selectOption("admin");
    await expect(page.getByText("intern is now an admin"), "the role changed");
    await row.getByRole("button", { name: "Delete" }).click();
    await expect(page.getByText(/scenarios, runs and data store records are deleted with them/), "what deleting takes with it");
    await page.getByRole("button", { name: "Delete user" }).click();
    await expect(page.getByText("Deleted intern"), "the user deleted");
    if (await page.locator('[data-user="intern"]').count()) throw new Error("the deleted user is still listed");
    if (await page.locator(`[data-user="${env("ADMIN_NAME")}"]`).getByRole("button", { name: "Delete" }).count()) {
      throw new Error("an admin is offered to delete themselves");
    }
  });

  await step("member home", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page.getByRole("heading", { name: "Sign in to Heph" }), "signed out");
    await signIn(env("MEMBER_NAME"), env("MEMBER_PASSWORD"));
  });

  await step("member cannot reach admin pages", async () => {
    if (await page.getByRole("link", { name: "Users" }).count()) throw new Error("a member sees the admin links");
    await page.goto(URL + "/#/admin/users");
    await expect(page.getByRole("heading", { name: "Admins only" }), "the admin page refused");
  });

  await step("consent screen", async () => {
    await page.getByRole("link", { name: "Connections" }).click();
    await page.getByLabel("Connector to connect").selectOption("wordpress");
    await page.getByRole("button", { name: "Add connection" }).click();
    await page.getByLabel("Site URL").fill(env("WP_SITE_URL"));
    await page.getByLabel("User name").fill(env("WP_USERNAME"));
    await page.getByLabel("Application Password", { exact: true }).fill(env("WP_APP_PASSWORD"));
    await expect(page.getByRole("heading", { name: "Allow WordPress to use your account?" }), "the consent screen");
    await expect(page.locator("code", { hasText: env("WP_SITE_URL") }), "the host the data goes to");
    // Without consent nothing is sent.
    await page.getByRole("button", { name: "Save and test" }).click();
    await expect(page.getByRole("alert").filter({ hasText: "consent box" }), "the refusal without consent");
    await page.getByLabel(/I agree to let WordPress use my account/).check();
  });

  await step("connection", async () => {
    await page.getByRole("button", { name: "Save and test" }).click();
    await expect(page.getByRole("button", { name: "Test" }), "the connection page");
    await page.getByRole("button", { name: "Test" }).click();
    await expect(page.getByText("✔ The connection works"), "a working connection");
  });

  await step("builder trigger sample", async () => {
    await page.getByRole("link", { name: "Scenarios" }).click();
    await page.getByRole("link", { name: "New scenario" }).first().click();
    await page.getByLabel("Name", { exact: true }).fill(env("SCENARIO_NAME"));
    await page.locator("#trigger-type").selectOption("poll");
    await page.locator("#trigger-connector").selectOption("wordpress");
    await page.locator("#trigger-name").selectOption("users");
    await page.getByRole("button", { name: "Test the trigger" }).click();
    await expect(page.getByText(/read from .* just now/), "a sample of the trigger");
  });

  await step("mapping preview", async () => {
    await page.locator('[data-add="trigger"]').click();
    await page.locator('[data-type="transform"]').click();
    await page.getByLabel("Id (templates read its output by this name)").fill("user");
    await page.getByLabel("Id (templates read its output by this name)").press("Tab");
    for (const [name, path, conversion] of [["email", "trigger.email", "lower"], ["username", "trigger.username", ""], ["name", "trigger.name", ""], ["wordpress_id", "trigger.id", ""]]) {
      await page.getByRole("button", { name: "Add field" }).click();
      const row = page.locator(".mapping-row").last();
      await row.getByLabel("Field name").fill(name);
      await row.getByRole("button", { name: /insert a field/ }).click();
      await page.getByLabel("Find a field").fill(path);
      await page.locator(".picker button", { has: page.locator("strong", { hasText: new RegExp(`^${path.replace(".", "\\.")}$`) }) }).click();
      if (conversion) await row.getByLabel(/conversion/).selectOption(conversion);
    }
    await page.getByRole("button", { name: "Preview on the sample" }).click();
    await expect(page.getByText("Mapped result on the sample:"), "the mapped result");
    const preview = await page.locator("pre.json").filter({ hasText: "wordpress_id" }).first().textContent();
    const mapped = JSON.parse(preview);
    if (mapped.email !== mapped.email.toLowerCase() || typeof mapped.wordpress_id !== "number") throw new Error(`the preview is not mapped: ${preview}`);
  });

  await step("builder graph", async () => {
    await page.locator('[data-add="user"]').click();
    await page.locator('[data-type="store"]').click();
    await page.getByLabel("Collection").fill("users");
    await page.getByRole("button", { name: "Record: insert a field" }).click();
    await page.getByLabel("Find a field").fill("user");
    await page.locator(".picker button", { has: page.locator("strong", { hasText: /^user$/ }) }).click();
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByText(/Saved .* \(version 1\)/), "the scenario saved");
    await expect(page.locator('[data-node="store1"]'), "the store node in the graph");
  });

  let runUrl;
  await step("run progress", async () => {
    await page.getByRole("button", { name: "Run now" }).click();
    await page.waitForURL(/#\/runs\/run_/);
    runUrl = page.url();
    await expect(page.locator('[data-counter="items-done"]'), "the run's counters");
  });

  await step("run finished", async () => {
    await page.getByRole("heading", { level: 2 }).filter({ hasText: "succeeded" }).waitFor({ timeout: 180000 });
    const done = (await page.locator('[data-counter="items-done"] strong').textContent()).trim();
    if (done !== env("EXPECT_USERS")) throw new Error(`${done} items done, expected ${env("EXPECT_USERS")}`);
  });

  await step("run steps", async () => {
    const item = page.locator("details[data-item]").first();
    await item.locator("summary").click();
    await expect(item.locator('[data-step="user"]'), "the transform step");
    await expect(item.locator('[data-step="store1"]'), "the store step");
    await expect(item.locator('[data-step="user"] pre.json', { hasText: "wordpress_id" }), "the step's output");
  });

  await step("data store", async () => {
    await page.getByRole("link", { name: "Data store" }).click();
    await page.getByRole("link", { name: `users (${env("EXPECT_USERS")})` }).click();
    await expect(page.locator(`[data-record="${env("EXPECT_RECORD")}"]`).getByText(env("EXPECT_EMAIL")), "an imported user");
  });

  await step("runs list", async () => {
    await page.getByRole("link", { name: "Runs" }).click();
    await expect(page.getByRole("link", { name: runUrl.split("/").pop() }), "the run in the history");
  });

  await step("home with status", async () => {
    await page.getByRole("link", { name: "Home" }).click();
    await expect(page.getByRole("link", { name: env("SCENARIO_NAME") }), "the scenario on the home page");
  });
  console.log(`dashboard: ${shot} pages checked, screenshots in ${SHOTS}`);
} catch (e) {
  await page.screenshot({ path: join(SHOTS, "failure.png"), fullPage: true }).catch(() => {});
  console.error(`dashboard: FAILED at page ${shot + 1}: ${e.message}`);
  if (errors.length) console.error(errors.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
