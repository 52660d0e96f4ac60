// tests/node/filestore.mjs - drives the Zoho CRM Node.js SDK's own
// FileStore, so tests/node/filestore.test can check that a token file
// shared with tokenstore stays readable by the SDK that wrote it.
//
// Run from a directory where @zohocrm/nodejs-sdk-8.0 is installed:
//   node filestore.mjs save FILE ID USER CLIENT_ID SECRET REFRESH ACCESS GRANT EXPIRY REDIRECT API_DOMAIN [ID ...]
//   node filestore.mjs dump FILE          every row, one JSON array a line
//   node filestore.mjs find FILE USER     the row findToken answers with, or null
// save takes ten fields per token, for as many tokens as given (the SDK
// takes a second to load). An empty argument is an absent field (null).
import * as SDK from "@zohocrm/nodejs-sdk-8.0";

function fields(t) {
    const user = t.getUserSignature();
    return [t.getId(), user ? user.getName() : null, t.getClientId(), t.getClientSecret(),
            t.getRefreshToken(), t.getAccessToken(), t.getGrantToken(), t.getExpiresIn(),
            t.getRedirectURL(), t.getAPIDomain()].map(v => v ?? null);
}

function token(values) {
    const v = values.map(s => (s === "" ? null : s));
    const t = Reflect.construct(SDK.OAuthToken, []);
    t.setId(v[0]);
    t.setUserSignature(v[1] === null ? null : new SDK.UserSignature(v[1]));
    t.setClientId(v[2]);
    t.setClientSecret(v[3]);
    t.setRefreshToken(v[4]);
    t.setAccessToken(v[5]);
    t.setGrantToken(v[6]);
    t.setExpiresIn(v[7]);
    t.setRedirectURL(v[8]);
    t.setAPIDomain(v[9]);
    return t;
}

const [cmd, file, ...rest] = process.argv.slice(2);
const store = new SDK.FileStore(file);
if (cmd === "save" && rest.length > 0 && rest.length % 10 === 0) {
    for (let i = 0; i < rest.length; i += 10)
        await store.saveToken(token(rest.slice(i, i + 10)));
} else if (cmd === "dump" && rest.length === 0) {
    for (const t of await store.getTokens())
        console.log(JSON.stringify(fields(t)));
} else if (cmd === "find" && rest.length === 1) {
    const q = Reflect.construct(SDK.OAuthToken, []);
    q.setUserSignature(new SDK.UserSignature(rest[0]));
    const found = await store.findToken(q);
    console.log(JSON.stringify(found ? fields(found) : null));
} else {
    console.error("usage: filestore.mjs save FILE ID USER ... API_DOMAIN [ID ...] | dump FILE | find FILE USER");
    process.exit(2);
}
