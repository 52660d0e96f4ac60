// tests/node/sdk-common.mjs - what tests/node/sdk.mjs and its worker
// processes share: the SDK (from the npm install the test made), the
// binding, the fake server's address, and starting the SDK on a store.
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
