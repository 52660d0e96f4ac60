// tests/node/sdk-flight.mjs - the real Zoho CRM Node.js SDK in many
// processes at once on one store opened by URI, with no config file, run
// by tests/node/sdk-flight.test against the fake accounts server and CRM
// API (fake_zoho.mjs, whose token answers take 300 ms so that processes
// that did not wait for one another would each get one). On sqlite and on
// redis:
//
//   grant  4 processes start with one grant token: exactly one
//          authorization_code request reaches the server, sent by the
//          library and not by an SDK; all 4 get its access token; the
//          store holds one token, under the user the SDK named.
//   dc     a store holding a US, an EU, an IN and an AU token (their
//          api_domains www.zohoapis.com, .eu, .in, .com.au), each about to
//          expire, each data center's accounts server set in code to its
//          own prefix of the fake: 8 processes start the SDK with each
//          user in turn, and exactly one refresh per token reaches the
//          server, each at its own prefix; every process gets each
//          token's new access token.
import { is, ok, done } from "./tap.mjs";
import { ts, BASE, CLIENT_ID, CLIENT_SECRET, USER_NAME, workers } from "./sdk-common.mjs";
import { DC_USERS, GRANT } from "./sdk-flight-common.mjs";

const fake = async (path, method = "GET") => (await fetch(BASE + path, { method })).json();

// The last line each worker printed, parsed; their exit codes checked.
function answersOf(name, results) {
    is(results.map((r) => r.code), Array(results.length).fill(0),
       `${name}: the ${results.length} SDK processes finished`);
    return results.map((r) => JSON.parse(r.out.trim().split("\n").at(-1) || "[]"));
}

async function grantFlight(name, uri) {
    const raw = await ts.open(uri);
    await raw.clear();
    await fake("/reset", "POST");
    const answers = answersOf(`${name} grant`, await workers(4, "sdk-flight-worker.mjs", ["grant", uri]));
    const counts = await fake("/counts");
    is([counts.authorization_code, counts.refresh_token, counts.forms, counts.grants],
       [1, 0, ["library"], [GRANT]],
       `${name}: 4 processes starting with one grant token sent exactly 1 authorization_code request, the library's`);
    is(answers.map((a) => [a[0]?.access, a[0]?.id]), Array(4).fill([counts.issued[0], "1"]),
       `${name}: all 4 SDKs hold the exchanged access token, stored as id 1`);
    is((await raw.tokens()).map((t) => [t.id, t.user_name, t.access_token, t.grant_token]),
       [["1", USER_NAME, counts.issued[0], GRANT]],
       `${name}: the store holds one token, under the user the SDK named`);
    await raw.close();
}

async function dcFlight(name, uri) {
    const raw = await ts.open(uri);
    await raw.clear();
    const expiry = String(Date.now() + 30000);   // outside the SDK's own 5 s
    await raw.saveMany(DC_USERS.map(([user, dc, api_domain]) => ({
        user_name: user, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, api_domain,
        refresh_token: `1000.refresh.${dc}`, access_token: `1000.old.${dc}`, expiry_time: expiry })));
    await fake("/reset", "POST");
    const oauth = Object.fromEntries(DC_USERS.map(([, dc]) =>
        [`accounts_url.${dc}`, `${BASE}/${dc.toLowerCase()}/oauth/v2/token`]));
    const answers = answersOf(`${name} dc`,
                              await workers(8, "sdk-flight-worker.mjs", ["dc", uri, JSON.stringify(oauth)]));
    const counts = await fake("/counts");
    is([counts.refresh_token, [...counts.paths].sort(), counts.forms],
       [4, ["/au/oauth/v2/token", "/eu/oauth/v2/token", "/in/oauth/v2/token", "/us/oauth/v2/token"],
        Array(4).fill("library")],
       `${name}: 8 processes x 4 tokens made exactly one refresh per token, each at its data center's prefix`);
    const stored = await raw.tokens();
    DC_USERS.forEach(([user, dc, api_domain], i) => {
        const issued = counts.issued[counts.paths.indexOf(`/${dc.toLowerCase()}/oauth/v2/token`)];
        is([...new Set(answers.map((a) => `${a[i]?.access} ${a[i]?.api_domain}`))], [`${issued} ${api_domain}`],
           `${name}: all 8 processes got ${dc}'s token refreshed at ${dc}'s server`);
        ok(stored.some((t) => t.user_name === user && t.access_token === issued &&
                              Number(t.expiry_time) > Date.now() + 3000e3),
           `${name}: the store holds ${dc}'s new access token and its expiry`);
    });
    await raw.close();
}

const uris = { sqlite: `sqlite:${process.env.SCRATCH}/flight.db`,
               redis: `redis://127.0.0.1:${process.env.REDIS_PORT}/5?prefix=flight:` };
try {
    for (const [name, uri] of Object.entries(uris)) {
        await grantFlight(name, uri);
        await dcFlight(name, uri);
    }
    done();
} catch (e) {
    console.log(`Bail out! ${String(e?.stack ?? e).split("\n").slice(0, 4).join(" | ")}`);
    process.exitCode = 1;
}
