// tests/node/package-sample.mts - the Store API and the SDK adapter as a
// TypeScript application uses them, against the types of the installed
// package (index.d.ts). tests/node/package.test checks it with
// `tsc --noEmit`; each @ts-expect-error is a mistake the types must refuse.
import * as SDK from "@zohocrm/nodejs-sdk-8.0";
import { FIELDS, OAUTH_SETTINGS, Store, checkOAuth, open, sdkTokenStore, version } from "tokenstore";
import type { LogLevel, SDKTokenStore, SDKTokenStoreOptions, Token, TokenField } from "tokenstore";

const major: number = Number(version.split(".")[0]);
const fields: readonly TokenField[] = FIELDS;
const numeric = OAUTH_SETTINGS.filter((s) => s.min !== null).map((s) => `${s.name} >= ${s.min}`);
checkOAuth({ refresh_ahead_ms: 60000, "accounts_url.EU": "https://accounts.example.eu" });

const store: Store = await open("sqlite:/var/lib/app/tokens.db", {
    mustExist: false,
    oauth: { retries: 2 },
    onLog: (level: LogLevel, message: string) => console.log(`${level}: ${message}`),
    logLevel: "warning",
});
const saved: Token = await store.save({ user_name: "me@example.com", client_id: "1000.X",
                                        refresh_token: "1000.r", expiry_time: 1700000000000 });
const id: string | null = saved.id;
const found: Token | null = await store.find({ user_name: "me@example.com" });
const refresh: string | null = found ? found.refresh_token : null;
const byId = await store.findById(id ?? "1");
const all: Token[] = await store.tokens();
const many: Token[] = await store.saveMany([{ user_name: "a@example.com" }, { user_name: "b@example.com" }]);
const fresh: Token = await store.accessToken({ id: "1" }, { refreshAheadMs: 0,
                                                           accountsUrl: "https://accounts.example.com" });
const ahead: string = store.oauthSetting("refresh_ahead_ms");
const origin: string = store.origin;
await store.delete("2");
await store.clear();
await store.close();

// @ts-expect-error refreshToken is not a token field
await store.find({ refreshToken: "1000.r" });
// @ts-expect-error a field is absent as null, so it is not always a string
const notNull: string = saved.refresh_token;
// @ts-expect-error only open() makes a Store
new Store();
// @ts-expect-error logLevel is one of the four levels
await open(null, { logLevel: "verbose" });

const SDKTokenStoreClass = sdkTokenStore(SDK);
const options: SDKTokenStoreOptions = {
    refreshAheadMs: 60000,
    oauth: { "accounts_url.EU": "https://accounts.example.eu" },
    onLog: (level, message) => console.log(`tokenstore ${level}: ${message}`),
};
const sdkStore: SDKTokenStore = new SDKTokenStoreClass("redis://127.0.0.1:6379/0", options);
const tokens: object[] = await sdkStore.getTokens();
await sdkStore.deleteToken("1");
await sdkStore.close();
const byDefault = new SDKTokenStoreClass();
await byDefault.deleteTokens();

// @ts-expect-error refreshAheadMs is a number of milliseconds
new SDKTokenStoreClass(null, { refreshAheadMs: "60000" });
// @ts-expect-error sdkTokenStore takes the SDK module, not a store spec
sdkTokenStore("sqlite:/var/lib/app/tokens.db");

export { major, fields, numeric, id, refresh, byId, all, many, fresh, ahead, origin, notNull, tokens };
