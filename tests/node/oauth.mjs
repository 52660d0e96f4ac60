// tests/node/oauth.mjs - the OAuth client through the addon, without the
// SDK, run by tests/node/oauth.test against the fake accounts server
// (fake_zoho.mjs):
//
//   settings  OAUTH_SETTINGS is the library's list; open()'s oauth
//             settings and a config file's section give the values
//             store.oauthSetting reports (code over file, the library's
//             defaults under both); a bad name or value rejects open(),
//             from code or from the file, with the library's message.
//   servers   accounts_url.<data center> given in code sends a token to
//             the server of its api_domain's data center; accessToken's
//             accountsUrl is where a token goes when nothing else names a
//             server for it, and only then.
//   backoff   a failing accounts server: the first call's error says when
//             the next try is allowed, the second call is held back with
//             code TS_ERR_BACKOFF (a code the addon names through the
//             library) without a request.
//   log       onLog hears the refresh at "info", and nothing below its
//             logLevel.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ok, is, like, rejects, done } from "./tap.mjs";

const ts = await import(process.env.TS_BINDING);
const BASE = process.env.FAKE_BASE;
const scratch = process.env.SCRATCH;
const fake = async (path, method = "GET") => (await fetch(BASE + path, { method })).json();
const expired = () => String(Date.now() - 1000);
const token = (name, api_domain, extra = {}) => ({
    user_name: name, client_id: "1000.CID", client_secret: "csecret", refresh_token: `1000.r.${name}`,
    access_token: "1000.old", expiry_time: expired(), api_domain, ...extra });

async function settings() {
    const list = ts.OAUTH_SETTINGS;
    const ahead = list.find((s) => s.name === "refresh_ahead_ms");
    is([ahead?.default, ahead?.min, ahead?.max], ["60000", 5000, 3000000],
       "OAUTH_SETTINGS lists refresh_ahead_ms with the library's default and bounds");
    ok(list.some((s) => s.name === "accounts_url.*" && s.min === null) &&
       list.every((s) => s.min === null || (s.min <= Number(s.default) && Number(s.default) <= s.max)),
       "OAUTH_SETTINGS holds the accounts_url.* family, and every number's default is within its bounds");
    const store = await ts.open(`sqlite:${join(scratch, "settings.db")}`, {
        oauth: { retries: 1, "accounts_url.EU": `${BASE}/eu/oauth/v2/token`, client_secret: "s3cret" } });
    is(["retries", "accounts_url.EU", "refresh_ahead_ms", "client_secret", "accounts_url"].map((k) => store.oauthSetting(k)),
       ["1", `${BASE}/eu`, ahead.default, "****", ""],
       "oauthSetting reports open()'s settings, the library's defaults, a secret masked");
    await rejects((async () => store.oauthSetting("refresh_ahead"))(), "TS_ERR_CONFIG", /oauth\.refresh_ahead: unknown key/,
                  "oauthSetting of an unknown name throws TS_ERR_CONFIG");
    await store.close();
    const file = join(scratch, "settings.json");
    writeFileSync(file, JSON.stringify({ store: `sqlite:${join(scratch, "settings.db")}`,
                                         oauth: { refresh_ahead_ms: 20000, timeout_ms: 7000 } }), { mode: 0o600 });
    const both = await ts.open(file, { oauth: { timeout_ms: 5000 } });
    is([both.oauthSetting("refresh_ahead_ms"), both.oauthSetting("timeout_ms")], ["20000", "5000"],
       "a config file's oauth section is in force, and a setting given in code over it");
    await both.close();
    await rejects(ts.open("memory:", { oauth: { refresh_ahead_ms: 1000 } }), "TS_ERR_CONFIG",
                  /^oauth\.refresh_ahead_ms: '1000' is not a whole number from 5000 to 3000000$/,
                  "open() refuses a setting out of the library's bounds");
    await rejects(ts.open("memory:", { oauth: { refresh_ahead: 60000 } }), "TS_ERR_CONFIG",
                  /^oauth\.refresh_ahead: unknown key$/, "open() refuses a misspelt setting");
    await rejects(ts.open("memory:", { oauth: { retries: {} } }), "TS_ERR_INVALID",
                  /oauth\["retries"\] must be a string/, "open() refuses a setting that is no string or number");
    writeFileSync(file, JSON.stringify({ store: "memory:", oauth: { retries: 99 } }), { mode: 0o600 });
    await rejects(ts.open(file), "TS_ERR_CONFIG",
                  new RegExp(`${file}.*oauth\\.retries: '99' is not a whole number from 0 to 10`),
                  "open() refuses a bad value in the config file's section, naming the file");
    let thrown = null;
    try { ts.checkOAuth({ "accounts_url.XX": BASE }); } catch (e) { thrown = e; }
    like(`${thrown?.code} ${thrown?.message}`, /^TS_ERR_CONFIG oauth\.accounts_url\.XX: not a data center/,
         "checkOAuth throws the library's error at once");
}

// Saves the tokens into a fresh store and asks for each one's access token.
async function refreshed(store, tokens, options = () => undefined) {
    await store.clear();
    const saved = await store.saveMany(tokens);
    await fake("/reset", "POST");
    for (const t of saved)
        await store.accessToken({ id: t.id, api_domain: t.api_domain }, options(t));
    return (await fake("/counts")).paths;
}

async function servers() {
    const uri = `sqlite:${join(scratch, "servers.db")}`;
    const dcs = await ts.open(uri, { oauth: { "accounts_url.EU": `${BASE}/eu`, "accounts_url.AU": `${BASE}/au/oauth/v2/token` } });
    is(await refreshed(dcs, [token("eu@x.test", "https://www.zohoapis.eu"), token("au@x.test", "https://www.zohoapis.com.au")]),
       ["/eu/oauth/v2/token", "/au/oauth/v2/token"],
       "accounts_url.EU and .AU given in code send each token to its data center's server");
    is(await refreshed(dcs, [token("eu@x.test", "https://www.zohoapis.eu")], () => ({ accountsUrl: BASE })),
       ["/eu/oauth/v2/token"], "accountsUrl does not move a token whose data center has a server");
    await dcs.close();
    // Short timeouts: without the hint the token would go to Zoho's US server.
    const bare = await ts.open(uri, { oauth: { connect_timeout_ms: 3000, timeout_ms: 3000, retries: 0 } });
    is(await refreshed(bare, [token("own@x.test", BASE)], () => ({ accountsUrl: `${BASE}/oauth/v2/token` })),
       ["/oauth/v2/token"], "accountsUrl sends a token of an api_domain no data center names, when no setting names a server");
    await bare.close();
    const global = await ts.open(uri, { oauth: { accounts_url: `${BASE}/in` } });
    is(await refreshed(global, [token("own@x.test", BASE)], () => ({ accountsUrl: BASE })),
       ["/in/oauth/v2/token"], "accounts_url given in code wins over accountsUrl");
    await global.close();
}

async function backoff() {
    const store = await ts.open(`sqlite:${join(scratch, "backoff.db")}`,
                                { oauth: { accounts_url: BASE, retries: 0 } });
    await store.clear();
    const { id } = await store.save(token("b@x.test", BASE));
    await fake("/reset", "POST");
    await fake("/fail?n=1&status=500", "POST");
    await rejects(store.accessToken({ id }), "TS_ERR_HTTP", /HTTP status 500; the next try is allowed in \d+\.\d s$/,
                  "a refresh the server fails says when the next try is allowed");
    await rejects(store.accessToken({ id }), "TS_ERR_BACKOFF",
                  /token 1: 1 refresh in a row failed.*the next try is allowed in \d+\.\d s/,
                  "the next call is held back: code TS_ERR_BACKOFF, and when it may try");
    is((await fake("/counts")).refresh_token, 1, "the call held back sent no request");
    await store.close();
}

async function log() {
    const lines = [], quiet = [];
    const uri = `sqlite:${join(scratch, "log.db")}`;
    const store = await ts.open(uri, { oauth: { accounts_url: BASE }, onLog: (level, message) => lines.push([level, message]) });
    await store.clear();
    const { id } = await store.save(token("l@x.test", BASE));
    await store.accessToken({ id });
    const other = await ts.open(uri, { oauth: { accounts_url: BASE }, logLevel: "warning",
                                       onLog: (level, message) => quiet.push([level, message]) });
    await other.save({ id, expiry_time: expired() });
    await other.accessToken({ id });
    await new Promise((resolve) => setImmediate(resolve));
    ok(lines.some(([level, message]) => level === "info" &&
                  message === `refreshing the access token of token ${id} at ${BASE}/oauth/v2/token`) &&
       !lines.some(([, m]) => m.includes("csecret") || m.includes("1000.r.l@x.test")),
       "onLog hears the refresh at info, without secrets");
    is(quiet, [], "onLog with logLevel warning hears no info");
    await store.close();
    await other.close();
}

try {
    await settings();
    await servers();
    await backoff();
    await log();
    done();
} catch (e) {
    console.log(`Bail out! ${String(e?.stack ?? e).split("\n").slice(0, 4).join(" | ")}`);
    process.exitCode = 1;
}
