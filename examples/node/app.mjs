// examples/node/app.mjs - a Zoho CRM Node.js SDK application that keeps its
// OAuth tokens in a tokenstore store, and prints the first Leads.
//
// The store is whatever the tokenstore configuration names ($TOKENSTORE_CONFIG,
// else ~/.config/tokenstore/config.json, else the default sqlite file), so
// moving the tokens from a file to Redis is a config change, not a code
// change. Tokens about to expire are renewed a minute ahead, once for all
// the processes sharing the store, and a grant token is exchanged once
// however many processes start with it; the library's warnings go to
// stderr with the application's own.
//
// First run (exchanges a grant token from the API console and saves it):
//   ZOHO_CLIENT_ID=... ZOHO_CLIENT_SECRET=... ZOHO_GRANT_TOKEN=... node app.mjs
// Later runs (finds the saved token by the user the SDK saved it under,
// "email:zgid"; `tokenstore list` shows it):
//   ZOHO_USER=owner@example.com:12345678 node app.mjs
// ZOHO_API_BASE points the SDK at another server than Zoho's US data center
// (a test double, a proxy).
import * as SDK from "@zohocrm/nodejs-sdk-8.0";

const tokenstore = await import(process.env.TOKENSTORE_NODE ?? "/usr/local/lib/tokenstore/node/index.mjs");
const SDKTokenStore = tokenstore.sdkTokenStore(SDK);
const env = process.env;

function token() {
    if (env.ZOHO_GRANT_TOKEN)
        return new SDK.OAuthBuilder().clientId(env.ZOHO_CLIENT_ID).clientSecret(env.ZOHO_CLIENT_SECRET)
            .grantToken(env.ZOHO_GRANT_TOKEN).redirectURL(env.ZOHO_REDIRECT_URL ?? "https://localhost/callback")
            .build();
    if (env.ZOHO_USER)
        return new SDK.OAuthBuilder().userSignature(new SDK.UserSignature(env.ZOHO_USER)).build();
    throw new Error("set ZOHO_USER, or ZOHO_GRANT_TOKEN with ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET");
}

function environment() {
    const base = env.ZOHO_API_BASE;
    return base ? new SDK.Environment(base, `${base}/oauth/v2/token`, `${base}/content`)
                : SDK.USDataCenter.PRODUCTION();
}

const store = new SDKTokenStore(null, { onLog: (level, message) => console.error(`tokenstore ${level}: ${message}`) });
try {
    await (await new SDK.InitializeBuilder())
        .environment(environment()).token(token()).store(store)
        .resourcePath(env.ZOHO_RESOURCE_PATH ?? process.cwd())
        .initialize();
    const response = await new SDK.Record.RecordOperations("Leads")
        .getRecords(new SDK.ParameterMap(), new SDK.HeaderMap());
    const body = response.getObject();
    if (!(body instanceof SDK.Record.ResponseWrapper))
        throw new Error(`the CRM answered HTTP ${response.getStatusCode()}`);
    for (const lead of body.getData())
        console.log(`${lead.getId()}  ${lead.getKeyValue("Last_Name") ?? ""}`);
} finally {
    await store.close();
}
