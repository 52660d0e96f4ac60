// tests/node/sdk-flight-worker.mjs - one of the processes
// tests/node/sdk-flight.mjs runs at once: imports the SDK, says "ready",
// waits for "go" on stdin so that every process asks together, then starts
// the real SDK on the store argv[3] names, with no config file:
//
//   grant SPEC       with the one grant token (and client id and secret),
//                    as a first start does;
//   dc SPEC OAUTH    with the user of each data center's token in turn,
//                    OAUTH (JSON) being the settings given in code.
//
// Prints one JSON line: per start, the access token, the id and the
// api_domain the SDK's token holds afterwards.
import { SDK, SDKTokenStore, CLIENT_ID, CLIENT_SECRET, initialize } from "./sdk-common.mjs";
import { DC_USERS, GRANT } from "./sdk-flight-common.mjs";

const [mode, spec, oauth] = process.argv.slice(2);
console.log("ready");
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.pause();
const out = [];
const store = new SDKTokenStore(spec, { oauth: oauth ? JSON.parse(oauth) : undefined });
const tokens = mode === "grant"
    ? [new SDK.OAuthBuilder().clientId(CLIENT_ID).clientSecret(CLIENT_SECRET).grantToken(GRANT)
        .redirectURL("https://app.example.test/callback").build()]
    : DC_USERS.map(([user]) => new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(user)).build());
for (const token of tokens) {
    await initialize(token, store);
    out.push({ access: token.getAccessToken(), id: token.getId(), api_domain: token.getAPIDomain() });
}
await store.close();
console.log(JSON.stringify(out));
