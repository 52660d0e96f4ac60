// tests/node/sdk-worker.mjs - one of the processes tests/node/sdk.mjs runs
// on one store at once: imports the SDK, says "ready", waits for "go" on
// stdin so that every process asks together, then starts the SDK with the
// stored token's user (refresh ahead on) and fetches the Leads for each
// config file given. Prints one JSON line: the access token each store
// answered and the lead ids.
import { SDK, SDKTokenStore, USER_NAME, initialize, leadIds } from "./sdk-common.mjs";

const configs = process.argv.slice(2);
console.log("ready");
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.pause();
const started = Date.now();
const out = [];
for (const config of configs) {
    const store = new SDKTokenStore(config);
    const token = new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(USER_NAME)).build();
    await initialize(token, store);
    out.push({ access: (await store.findTokenById("1")).getAccessToken(), leads: await leadIds(),
               ms: Date.now() - started });
    await store.close();
}
console.log(JSON.stringify(out));
