// tests/node/sdk.mjs - the real Zoho CRM Node.js SDK on tokenstore stores,
// run by tests/node/sdk.test against the fake accounts server and CRM API
// (fake_zoho.mjs). The config files name a store and nothing else: no
// oauth section. For sqlite and redis: a grant token is exchanged by the
// library, not the SDK, and saved as id 1 under the user the SDK then
// names, which the CLI shows; a valid token serves getRecords with no
// save; an expired token is refreshed once and saved; the CLI lists the
// store and the Python package reads it as the addon does; and 8 processes
// asking at once for a token with 30 s left (outside the SDK's own 5 s
// margin) cause exactly one refresh request, through refresh ahead, which
// is on by default. A store opened by URI refreshes ahead too; asking for
// refresh ahead where it cannot work throws at construction. Last, the
// example application (examples/node/app.mjs) runs as a user would run it.
// tests/node/sdk-flight.test runs the SDK in many processes at once.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ok, is, like, rejects, skip, done } from "./tap.mjs";
import { SDK, ts, BASE, CLIENT_ID, CLIENT_SECRET, USER_NAME, SDKTokenStore, CountingStore,
         initialize, leadIds, workers } from "./sdk-common.mjs";

const scratch = process.env.SCRATCH;
const LEADS = ["4000000000001", "4000000000002"];
const GRANT = "1000.grantcode0123456789abcdef.0123456789abcdef";

const fake = async (path, method = "GET") => (await fetch(BASE + path, { method })).json();
const cli = (config, ...args) => execFileSync(process.env.TS_CLI, ["--config", config, ...args],
                                              { encoding: "utf8" });

// A config file that names the store, and nothing of OAuth.
function configFor(name, uri) {
    const path = join(scratch, `${name}.json`);
    writeFileSync(path, JSON.stringify({ store: uri }));
    return path;
}

// The grant exchange is the library's (a url-encoded form at the SDK
// environment's accounts server); the SDK then names the user and saves.
async function grant(name, config) {
    const store = new CountingStore(config, { refreshAheadMs: 0 });
    const token = new SDK.OAuthBuilder().clientId(CLIENT_ID).clientSecret(CLIENT_SECRET)
        .grantToken(GRANT).redirectURL("https://app.example.test/callback").build();
    await initialize(token, store);
    const counts = await fake("/counts");
    is([counts.authorization_code, counts.refresh_token, counts.forms, counts.grants],
       [1, 0, ["library"], [GRANT]], `${name}: the library exchanged the grant token once, not the SDK`);
    is([token.getId(), store.saves], ["1", 1], `${name}: the SDK named the user and saveToken set id 1 on its token`);
    const shown = JSON.parse(cli(config, "get", "--id", "1", "--json", "--show-secrets"));
    is([shown.user_name, shown.client_id, shown.access_token, shown.refresh_token],
       [USER_NAME, CLIENT_ID, counts.issued[0], "1000.refresh.fake"],
       `${name}: tokenstore get --id 1 shows the user and the tokens`);
    await store.close();
}

async function valid(name, config) {
    await fake("/reset", "POST");
    const store = new CountingStore(config, { refreshAheadMs: 0 });
    const before = (await store.getTokens()).map((t) => [t.getId(), t.getAccessToken(), t.getExpiresIn()]);
    await initialize(new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(USER_NAME)).build(), store);
    is(await leadIds(), LEADS, `${name}: getRecords("Leads") answers the fake's records`);
    const counts = await fake("/counts");
    is([counts.refresh_token, store.saves], [0, 0], `${name}: a valid token is used with no refresh and no save`);
    ok(counts.bearers.length > 0 && counts.bearers.every((b) => b === before[0][1]),
       `${name}: every CRM call carried the stored access token`);
    is((await store.getTokens()).map((t) => [t.getId(), t.getAccessToken(), t.getExpiresIn()]), before,
       `${name}: the store is unchanged`);
    await store.close();
}

// Sets the stored token's expiry, through the addon.
async function setExpiry(config, ms) {
    const raw = await ts.open(config);
    const tok = await raw.findById("1");
    await raw.save({ ...tok, expiry_time: String(ms) });
    await raw.close();
}

async function expired(name, config) {
    await setExpiry(config, Date.now() - 60000);
    await fake("/reset", "POST");
    const store = new CountingStore(config, { refreshAheadMs: 0 });
    await initialize(new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(USER_NAME)).build(), store);
    is(await leadIds(), LEADS, `${name}: getRecords works with an expired token`);
    const counts = await fake("/counts");
    is([counts.refresh_token, store.saves], [1, 1], `${name}: an expired token is refreshed once and saved`);
    const shown = JSON.parse(cli(config, "get", "--id", "1", "--json", "--show-secrets"));
    ok(shown.access_token === counts.issued[0] && Number(shown.expiry_time) > Date.now() + 3000e3,
       `${name}: the store holds the new access token and its expiry`);
    is(counts.bearers.at(-1), counts.issued[0], `${name}: the CRM call carried the new access token`);
    like(cli(config, "list"), new RegExp(`^1 +${USER_NAME.replace(/\./g, "\\.")} `, "m"),
         `${name}: tokenstore list shows the token the SDK saved`);
    await store.close();
    await pythonReads(name, config, shown);
}

// Every token of the store as the Python package (bindings/python, on the
// build tree's library) reads it: one object with the ten fields a token.
const PY_READ = `import json, sys, tokenstore
with tokenstore.open(sys.argv[1], read_only=True) as store:
    print(json.dumps([dict(zip(tokenstore.FIELDS, t.values())) for t in store.tokens()]))`;

// The Python binding reads every field the SDK saved, as the addon does.
async function pythonReads(name, config, shown) {
    const python = process.env.TS_PYTHON;
    if (!python || python === ":")
        return skip(`${name}: the Python package reads the store`, "configure found no Python");
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1",
                  PYTHONPATH: join(process.env.top_srcdir, "bindings", "python"),
                  TOKENSTORE_LIBRARY: join(process.env.top_builddir, "core", ".libs", "libtokenstore.so.1") };
    const read = JSON.parse(execFileSync(python, ["-c", PY_READ, config], { encoding: "utf8", env }));
    const raw = await ts.open(config);
    const viaNode = await raw.tokens();
    await raw.close();
    is(read, viaNode, `${name}: the Python package reads every field of every token as the addon does`);
    is([read.length, read[0]?.user_name, read[0]?.access_token, read[0]?.refresh_token, read[0]?.expiry_time],
       [1, USER_NAME, shown.access_token, shown.refresh_token, shown.expiry_time],
       `${name}: it reads the SDK's user and its renewed tokens`);
}

async function singleFlight(stores) {
    // Outside the SDK's and the library's own 5-second margin: only a
    // refresh ahead of 60 s that reaches the library renews it.
    for (const { config } of stores)
        await setExpiry(config, Date.now() + 30000);
    await fake("/reset", "POST");
    const results = await workers(8, "sdk-worker.mjs", stores.map((s) => s.config));
    const counts = await fake("/counts");
    is(results.map((r) => r.code), Array(8).fill(0), "8 SDK processes on the stores finished");
    const answers = results.map((r) => JSON.parse(r.out.trim().split("\n").at(-1)));
    console.log(`# ms after "go" per process: ${answers.map((a) => a.map((x) => x.ms).join("/")).join(" ")}`);
    is(counts.refresh_token, stores.length, "exactly 1 refresh request per store reached the accounts server");
    stores.forEach(({ name }, i) => {
        is([...new Set(answers.map((a) => a[i].access))], [counts.issued[i]],
           `${name}: all 8 processes got the renewed access token`);
        ok(answers.every((a) => a[i].leads.join() === LEADS.join()), `${name}: all 8 processes fetched the Leads`);
    });
}

// The adapter's contract with the SDK, method by method.
async function contract() {
    ok(ts.sdkTokenStore(SDK) === SDKTokenStore, "sdkTokenStore gives the same class for the same SDK");
    let refused = null;
    try { ts.sdkTokenStore({}); } catch (e) { refused = e; }
    like(refused?.message, /pass the Zoho SDK module/, "sdkTokenStore refuses what is not the SDK");
    const store = new SDKTokenStore(`sqlite:${join(scratch, "contract.db")}`, { refreshAheadMs: 0 });
    ok(store instanceof SDK.TokenStore.TokenStore, "an SDKTokenStore is an instance of the SDK's TokenStore");
    const t = Reflect.construct(SDK.OAuthToken, []);
    t.setUserSignature(new SDK.UserSignature("c@example.test"));
    t.setClientId(CLIENT_ID);
    t.setClientSecret(CLIENT_SECRET);
    t.setRefreshToken("1000.r.contract");
    t.setAccessToken("1000.a.contract");
    t.setExpiresIn("1714564800000");
    await store.saveToken(t);
    is(t.getId(), "1", "saveToken sets the new id on the token it was given");
    const q = Reflect.construct(SDK.OAuthToken, []);
    q.setUserSignature(new SDK.UserSignature("c@example.test"));
    q.setAccessToken("1000.a.mine");
    const found = await store.findToken(q);
    ok(found === q, "findToken returns the token it was given");
    is([q.getId(), q.getAccessToken(), q.getRefreshToken(), q.getExpiresIn()],
       ["1", "1000.a.mine", "1000.r.contract", "1714564800000"], "findToken fills only the empty fields");
    const nobody = Reflect.construct(SDK.OAuthToken, []);
    nobody.setUserSignature(new SDK.UserSignature("nobody@example.test"));
    is(await store.findToken(nobody), null, "findToken of an unknown user is null");
    const byId = await store.findTokenById("1");
    ok(byId instanceof SDK.OAuthToken && byId !== t && byId.getUserSignature().getName() === "c@example.test",
       "findTokenById answers a new OAuthToken with the stored user");
    const thrown = async (p) => { try { await p; return null; } catch (e) { return e; } };
    const missing = await thrown(store.findTokenById("9"));
    ok(missing instanceof SDK.SDKException && missing.code === "TS_NOT_FOUND",
       "findTokenById of a missing id throws SDKException TS_NOT_FOUND");
    const tokens = await store.getTokens();
    ok(Array.isArray(tokens) && tokens.length === 1 && tokens[0] instanceof SDK.OAuthToken,
       "getTokens answers an Array of OAuthTokens");
    ok((await thrown(store.deleteToken("9"))) instanceof SDK.SDKException, "deleteToken of a missing id throws SDKException");
    await store.deleteToken("1");
    is((await store.getTokens()).length, 0, "deleteToken deletes");
    await store.saveToken(t);
    await store.deleteTokens();
    is((await store.getTokens()).length, 0, "deleteTokens deletes every token");
    await store.close();
}

// 8 calls in flight in one process run on several handles of one Store,
// each with its own OAuth client: the store's lock still lets one refresh
// through. A token with 30 s left is renewed with refreshAheadMs above
// that; one with 90 s left is not without it (the library's 60 s holds).
async function handlesSingleFlight(name, config) {
    const raw = await ts.open(config, { oauth: { accounts_url: BASE } });
    const eight = (options) =>
        Promise.all(Array.from({ length: 8 }, () => raw.accessToken({ id: "1" }, options)));
    await setExpiry(config, Date.now() + 30000);
    await fake("/reset", "POST");
    let got = await eight({ refreshAheadMs: 60000 });
    let counts = await fake("/counts");
    is([counts.refresh_token, [...new Set(got.map((t) => t.access_token))]], [1, counts.issued],
       `${name}: 8 accessToken calls with refreshAheadMs 60000 make 1 refresh request`);
    await setExpiry(config, Date.now() + 90000);
    await fake("/reset", "POST");
    got = await eight(undefined);
    counts = await fake("/counts");
    is([counts.refresh_token, new Set(got.map((t) => t.access_token)).size], [0, 1],
       `${name}: without refreshAheadMs, on the same handles, 90 s left is not renewed`);
    await raw.close();
}

// refreshAheadMs out of what the library takes is refused, naming it, by
// accessToken and by the adapter's constructor; so is asking for refresh
// ahead on a store opened read-only, and a bad OAuth setting in code.
async function badAhead(config) {
    const raw = await ts.open(config);
    await rejects(raw.accessToken({ id: "1" }, { refreshAheadMs: 1000 }), "TS_ERR_CONFIG",
                  /refresh_ahead_ms: '1000' is not a whole number from 5000 to 3000000/,
                  "accessToken refuses refreshAheadMs 1000 with the library's range");
    await rejects(raw.accessToken({ id: "1" }, { refreshAheadMs: "soon" }), "TS_ERR_INVALID",
                  /options\.refreshAheadMs must be a whole number/,
                  "accessToken refuses a refreshAheadMs that is not a number");
    await raw.close();
    const range = ts.OAUTH_SETTINGS.find((s) => s.name === "refresh_ahead_ms");
    const thrown = (options) => {
        try { new SDKTokenStore(config, options); } catch (e) { return e; }
        return null;
    };
    let e = thrown({ refreshAheadMs: range.min - 1 });
    ok(e?.code === "TS_ERR_CONFIG" && e.message === `refreshAheadMs: oauth.refresh_ahead_ms: ` +
       `'${range.min - 1}' is not a whole number from ${range.min} to ${range.max}`,
       `new SDKTokenStore refuses refreshAheadMs ${range.min - 1}, naming the library's range`);
    e = thrown({ refreshAheadMs: 60000, readOnly: true });
    ok(e?.code === "TS_ERR_READ_ONLY" && /readOnly/.test(e.message),
       "new SDKTokenStore refuses refreshAheadMs on a readOnly store");
    e = thrown({ refreshAheadMs: "60000" });
    ok(e?.code === "TS_ERR_INVALID" && /refreshAheadMs/.test(e.message),
       "new SDKTokenStore refuses a refreshAheadMs that is not a number");
    e = thrown({ oauth: { "accounts_url.XX": BASE } });
    ok(e?.code === "TS_ERR_CONFIG" && /oauth\.accounts_url\.XX: not a data center/.test(e.message),
       "new SDKTokenStore refuses an OAuth setting the library refuses");
    is([thrown({ readOnly: true }), thrown({ refreshAheadMs: 0, readOnly: true })], [null, null],
       "a readOnly SDKTokenStore that does not ask for refresh ahead is made");
}

// A store opened by URI, with no config file at all, refreshes ahead by
// default at the SDK environment's accounts server; one opened read-only
// does not refresh at all.
async function uriAhead(name, uri, config) {
    await setExpiry(config, Date.now() + 30000);
    const raw = await ts.open(uri);
    const before = await raw.findById("1");
    await raw.close();
    await fake("/reset", "POST");
    const readOnly = new CountingStore(uri, { readOnly: true });
    await initialize(new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(USER_NAME)).build(), readOnly);
    is([(await fake("/counts")).refresh_token, readOnly.saves], [0, 0],
       `${name}: a readOnly store by URI does not refresh ahead`);
    await readOnly.close();
    const store = new CountingStore(uri);
    await initialize(new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(USER_NAME)).build(), store);
    const counts = await fake("/counts");
    is([counts.refresh_token, counts.forms, counts.paths, store.saves], [1, ["library"], ["/oauth/v2/token"], 0],
       `${name}: a store opened by URI refreshes a token with 30 s left ahead, once, at the SDK's server`);
    const got = await store.findTokenById("1");
    ok(got.getAccessToken() === counts.issued[0] && got.getAccessToken() !== before.access_token &&
       Number(got.getExpiresIn()) > Date.now() + 3000e3, `${name}: the SDK gets the renewed token`);
    await store.close();
}

// The config's oauth.refresh_ahead_ms is the adapter's margin when the
// application gives none.
async function configAhead(name, uri) {
    const config = join(scratch, `${name}-ahead.json`);
    writeFileSync(config, JSON.stringify({ store: uri,
                                           oauth: { accounts_url: BASE, refresh_ahead_ms: 20000 } }));
    const store = new SDKTokenStore(config);
    await setExpiry(config, Date.now() + 30000);
    await fake("/reset", "POST");
    await store.findTokenById("1");
    await setExpiry(config, Date.now() + 15000);
    const renewed = await store.findTokenById("1");
    const counts = await fake("/counts");
    is([counts.refresh_token, renewed.getAccessToken()], [1, counts.issued[0]],
       `${name}: with oauth.refresh_ahead_ms 20000, 30 s left is kept and 15 s left renewed`);
    await store.close();
    const inCode = new SDKTokenStore(config, { oauth: { refresh_ahead_ms: 40000 } });
    await setExpiry(config, Date.now() + 30000);
    await fake("/reset", "POST");
    await inCode.findTokenById("1");
    is((await fake("/counts")).refresh_token, 1,
       `${name}: oauth.refresh_ahead_ms 40000 given in code wins over the file's 20000`);
    await inCode.close();
}

// A refresh ahead the accounts server refuses leaves the token as stored,
// says why in a process warning without the token's secrets, and the SDK
// then has the token to refresh itself.
async function refusedRefresh(config) {
    await setExpiry(config, Date.now() + 2000);
    const raw = await ts.open(config);
    const before = await raw.findById("1");
    await fake("/reset", "POST");
    await fake("/fail?n=1", "POST");
    const warnings = [];
    const onWarning = (w) => warnings.push(w.message);
    process.on("warning", onWarning);
    const store = new SDKTokenStore(config);
    const got = await store.findTokenById("1");
    await new Promise((r) => setImmediate(r));    // warnings are emitted on the next tick
    process.off("warning", onWarning);
    is([(await fake("/counts")).refresh_token, got.getAccessToken(), got.getExpiresIn()],
       [1, before.access_token, before.expiry_time],
       "a refused refresh ahead answers the stored token unchanged");
    is(await raw.findById("1"), before, "a refused refresh ahead leaves the store unchanged");
    ok(warnings.length === 1 && /invalid_code/.test(warnings[0]) &&
       !warnings[0].includes(before.refresh_token) && !warnings[0].includes(CLIENT_SECRET),
       "the warning says why, without secrets");
    await store.close();
    await raw.close();
}

// examples/node/app.mjs, copied next to the SDK's node_modules so that its
// plain import of the SDK resolves, on the sqlite store the scenarios left.
function example(config) {
    const app = join(scratch, "app");
    mkdirSync(app);
    copyFileSync(process.env.EXAMPLE_APP, join(app, "app.mjs"));
    symlinkSync(dirname(dirname(dirname(dirname(process.env.SDK_ENTRY)))), join(app, "node_modules"));
    const out = execFileSync(process.execPath, [join(app, "app.mjs")], {
        encoding: "utf8", cwd: app,
        env: { ...process.env, TOKENSTORE_CONFIG: config, TOKENSTORE_NODE: process.env.TS_BINDING,
               ZOHO_USER: USER_NAME, ZOHO_API_BASE: BASE } });
    is(out, `${LEADS[0]}  Fake\n${LEADS[1]}  Other\n`, "examples/node/app.mjs prints the Leads");
}

const uris = { sqlite: `sqlite:${join(scratch, "sdk.db")}`,
               redis: `redis://127.0.0.1:${process.env.REDIS_PORT}/4?prefix=sdk:` };
const stores = Object.entries(uris).map(([name, uri]) => ({ name, config: configFor(name, uri) }));
try {
    await contract();
    for (const { name, config } of stores) {
        await fake("/reset", "POST");
        await grant(name, config);
        await valid(name, config);
        await expired(name, config);
    }
    await singleFlight(stores);
    for (const { name, config } of stores)
        await handlesSingleFlight(name, config);
    await badAhead(stores[0].config);
    for (const { name, config } of stores)
        await uriAhead(name, uris[name], config);
    await configAhead("sqlite", uris.sqlite);
    await refusedRefresh(stores[0].config);
    example(stores[0].config);
    done();
} catch (e) {
    console.log(`Bail out! ${String(e?.stack ?? e).split("\n").slice(0, 4).join(" | ")}`);
    if (e?.cause) console.log(String(e.cause.stack).replace(/^/gm, "# "));
    process.exitCode = 1;
}
