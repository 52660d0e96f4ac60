// tests/node/sdk-common.mjs - what tests/node/sdk.mjs, sdk-flight.mjs and
// their worker processes share: the SDK (from the npm install the test
// made), the binding, the fake server's address, starting the SDK on a
// store, and starting worker processes together.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// Import the package root before any deep path: a first deep import of
// some of its modules fails on a circular import.
export const SDK = await import(pathToFileURL(process.env.SDK_ENTRY).href);
export const ts = await import(process.env.TS_BINDING);
export const BASE = process.env.FAKE_BASE;
export const CLIENT_ID = "1000.NODECLIENT0123456789";
export const CLIENT_SECRET = "0123456789abcdef0123456789abcdef01234567";
export const USER_EMAIL = "owner@example.test";
// The SDK saves its user as "email:zgid" (the org's zgid from /crm/v8/org).
export const USER_NAME = `${USER_EMAIL}:7000001`;

export const SDKTokenStore = ts.sdkTokenStore(SDK);

// A store that also counts the SDK's saveToken calls.
export class CountingStore extends SDKTokenStore {
    saves = 0;
    async saveToken(token) {
        this.saves++;
        return super.saveToken(token);
    }
}

// Initializes the SDK against the fake with `token` and `store`; the SDK
// gets its first access token (from the store, or by exchange or refresh)
// before this resolves. Each call stands for a new application start: the
// SDK keeps one initializer per user for the process and would otherwise
// serve a later scenario with an earlier scenario's store.
export async function initialize(token, store) {
    SDK.Initializer.LOCAL.clear();
    const resources = join(process.env.SCRATCH, `resources-${process.pid}`);
    mkdirSync(resources, { recursive: true });
    const environment = new SDK.Environment(BASE, `${BASE}/oauth/v2/token`, `${BASE}/content`);
    await (await new SDK.InitializeBuilder())
        .environment(environment).token(token).store(store).resourcePath(resources).initialize();
}

// The ids of the Leads the fake serves, fetched through the SDK.
export async function leadIds() {
    const response = await new SDK.Record.RecordOperations("Leads")
        .getRecords(new SDK.ParameterMap(), new SDK.HeaderMap());
    const wrapper = response.getObject();
    if (!(wrapper instanceof SDK.Record.ResponseWrapper))
        throw new Error(`getRecords answered ${response.getStatusCode()}`);
    return wrapper.getData().map((r) => String(r.getId()));
}

// Starts n processes of the worker script (next to this file) with args,
// releases them together once each said "ready", and resolves to their
// exit codes and output.
export async function workers(n, script, args) {
    const procs = Array.from({ length: n }, () =>
        spawn(process.execPath, [new URL(script, import.meta.url).pathname, ...args],
              { stdio: ["pipe", "pipe", "inherit"] }));
    const outputs = procs.map((p) => new Promise((resolve) => {
        let out = "";
        p.stdout.on("data", (d) => { out += d; });
        p.on("close", (code) => resolve({ code, out }));
    }));
    await Promise.all(procs.map((p) => new Promise((resolve) => {
        let seen = "";
        const wait = (d) => {
            seen += d;
            if (seen.includes("ready\n")) {
                p.stdout.off("data", wait);
                resolve();
            }
        };
        p.stdout.on("data", wait);
        p.on("close", resolve);     // one that fails before it is ready
    })));
    procs.forEach((p) => p.stdin.end("go\n"));
    return Promise.all(outputs);
}
