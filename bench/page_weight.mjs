// Page weight of a first visit, in headless Chromium through chromedriver:
// bytes transferred (Resource Timing `transferSize`: headers and bodies as
// they crossed the wire, i.e. compressed) with JavaScript on and off, and
// the time from navigation to `<html data-hydrated>` (median of N loads,
// each with an empty cache). Node only (its fetch speaks to chromedriver).
//
// Usage: [IDENTITY=1] node bench/page_weight.mjs URL [loads=20]
// Prints one JSON object. CHROMIUM/CHROMEDRIVER override the Debian paths.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, loadsArg] = process.argv.slice(2);
if (!url) {
    console.error("usage: page_weight.mjs URL [loads]");
    process.exit(2);
}
const loads = Number(loadsArg ?? 20);
// IDENTITY=1: ask for nothing compressed (what a server without compression sends).
const identity = process.env.IDENTITY === "1";
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const chromedriver = process.env.CHROMEDRIVER || "/usr/bin/chromedriver";

const freePort = () =>
    new Promise((resolve) => {
        const server = createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });

async function waitFor(what, check, patienceMs = 20000) {
    const until = Date.now() + patienceMs;
    for (;;) {
        const value = await check().catch(() => undefined);
        if (value) return value;
        if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

const port = await freePort();
const driver = spawn(chromedriver, [`--port=${port}`], { stdio: "ignore" });
const base = `http://127.0.0.1:${port}`;
async function wd(method, path, body) {
    const res = await fetch(`${base}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
    return json.value;
}

async function session(javascript) {
    const profile = mkdtempSync(join(tmpdir(), "cloakroom-weight-"));
    const options = {
        binary: chromium,
        args: [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-quic", `--user-data-dir=${profile}`,
        ],
    };
    if (!javascript) options.prefs = { "profile.managed_default_content_settings.javascript": 2 };
    const { sessionId } = await wd("POST", "/session", {
        capabilities: { alwaysMatch: { browserName: "chrome", "goog:chromeOptions": options } },
    });
    const s = `/session/${sessionId}`;
    const cdp = (cmd, params = {}) => wd("POST", `${s}/goog/cdp/execute`, { cmd, params });
    if (identity) {
        await cdp("Network.enable");
        await cdp("Network.setExtraHTTPHeaders", { headers: { "Accept-Encoding": "identity" } });
    }
    const run = (script) => wd("POST", `${s}/execute/sync`, { script, args: [] });
    const close = async () => {
        await wd("DELETE", s).catch(() => {});
        rmSync(profile, { recursive: true, force: true });
    };
    return { cdp, run, close, goto: (to) => wd("POST", `${s}/url`, { url: to }) };
}

// Every byte of the document and what it fetched; the icon, which browsers
// fetch outside the page's Resource Timing, is not among them.
const TRANSFERRED = `return performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .map(e => ({ name: e.name, bytes: e.transferSize }));`;

async function firstVisit(javascript) {
    const b = await session(javascript);
    try {
        await b.goto(url);
        if (javascript) {
            await waitFor("hydration", () => b.run("return document.documentElement.hasAttribute('data-hydrated');"));
        }
        const entries = await b.run(TRANSFERRED);
        return { bytes: entries.reduce((n, e) => n + e.bytes, 0), entries };
    } finally {
        await b.close();
    }
}

async function timesToHydrated() {
    const b = await session(true);
    try {
        // Stamped by the page itself, from navigation start, the moment the
        // app marks the document.
        await b.cdp("Page.addScriptToEvaluateOnNewDocument", {
            source: `new MutationObserver((_, o) => {
                if (document.documentElement?.hasAttribute('data-hydrated')) {
                    window.__hydratedAt = performance.now(); o.disconnect();
                }
            }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });`,
        });
        await b.cdp("Network.enable");
        const times = [];
        for (let i = 0; i < loads; i++) {
            await b.cdp("Network.clearBrowserCache");
            await b.goto("about:blank");
            await b.goto(url);
            times.push(await waitFor("hydration", () => b.run("return window.__hydratedAt;")));
        }
        return times;
    } finally {
        await b.close();
    }
}

try {
    await waitFor("chromedriver", () => wd("GET", "/status").then((v) => v.ready));
    const on = await firstVisit(true);
    const off = await firstVisit(false);
    const times = (await timesToHydrated()).sort((a, b) => a - b);
    const median = (times[(times.length - 1) >> 1] + times[times.length >> 1]) / 2;
    console.log(JSON.stringify({
        url,
        js_on_bytes: on.bytes,
        js_off_bytes: off.bytes,
        js_on_entries: on.entries,
        js_off_entries: off.entries,
        hydrated_ms: { median, min: times[0], max: times[times.length - 1], loads: times.length },
    }, null, 1));
} finally {
    driver.kill();
}
