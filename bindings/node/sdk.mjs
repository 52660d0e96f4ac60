// bindings/node/sdk.mjs - a TokenStore for the Zoho CRM Node.js SDK.
//
// The SDK's Initializer refuses a store that is not an instance of its own
// TokenStore class, and an application's copy of the SDK is not reachable
// from this directory (a second copy would be another class). So the
// application hands its SDK module over and gets a subclass of that very
// class:
//
//     import * as SDK from "@zohocrm/nodejs-sdk-8.0";
//     const SDKTokenStore = sdkTokenStore(SDK);
//     new SDK.InitializeBuilder().store(new SDKTokenStore("sqlite:/var/lib/app/tokens.db"))
//
// The six methods follow the SDK's own stores: findToken fills only the
// empty fields of the token it was given, findTokenById answers a new
// OAuthToken, saveToken sets the stored id on the token, and a missing id
// throws the SDK's SDKException.
//
// What the SDK would ask the accounts server for in every process, the
// library asks for once for all the processes sharing the store (its
// single flight), so the adapter hands it over before the SDK sees a token:
//  - refresh ahead: findToken and findTokenById first renew a stored token
//    with a refresh token whose access token is missing or expires within
//    refreshAheadMs (by default the library's refresh_ahead_ms in force:
//    the options' oauth settings, else the config file's oauth section,
//    else the library's default), through ts_oauth_get_access_token, so the SDK's
//    own 5-second margin is never reached;
//  - the grant exchange: a token findToken does not find but that holds a
//    grant token is exchanged by the library (one authorization_code
//    request per grant token, the other processes wait and read the
//    result) and the stored token returned.
// The accounts server is the one the SDK would ask: the library's for a
// token whose api_domain names a Zoho data center (and its accounts_url.*
// settings), else the SDK environment's, which the library is told.
import { checkOAuth, open } from "./store.mjs";

// The SDK token's getters and setters, by the library's field names.
const ACCESSORS = [
    ["id", "Id"], ["client_id", "ClientId"], ["client_secret", "ClientSecret"],
    ["refresh_token", "RefreshToken"], ["access_token", "AccessToken"],
    ["grant_token", "GrantToken"], ["expiry_time", "ExpiresIn"],
    ["redirect_url", "RedirectURL"], ["api_domain", "APIDomain"],
];

const absent = (v) => v === null || v === undefined;

function invalid(message) {
    return Object.assign(new TypeError(message), { code: "TS_ERR_INVALID" });
}

// The OAuth settings of the options, with refreshAheadMs as the library's
// refresh_ahead_ms, checked by the library now: a bad name or value, or
// refresh ahead asked of a store opened read-only, throws here.
function settingsOf(options) {
    if (!absent(options.oauth) && (typeof options.oauth !== "object" || Array.isArray(options.oauth)))
        throw invalid("oauth must be an object of OAuth settings ({ \"accounts_url.EU\": ... })");
    const oauth = { ...(options.oauth ?? {}) };
    const ms = options.refreshAheadMs;
    if (!absent(ms) && typeof ms !== "number")
        throw invalid(`refreshAheadMs: ${String(ms)} is not a number of milliseconds (0: off)`);
    if (!absent(ms) && ms !== 0) {
        if (options.readOnly)
            throw Object.assign(new Error(`refreshAheadMs: ${ms} asks for refresh ahead, but the ` +
                                          "store is opened readOnly, so a refreshed token could " +
                                          "not be saved"), { code: "TS_ERR_READ_ONLY" });
        oauth.refresh_ahead_ms = ms;
    }
    try {
        checkOAuth(oauth);
    } catch (e) {
        if (!absent(ms) && ms !== 0 && e.message.startsWith("oauth.refresh_ahead_ms"))
            e.message = `refreshAheadMs: ${e.message}`;
        throw e;
    }
    return oauth;
}

const classes = new WeakMap();

/**
 * The SDKTokenStore class for the given SDK module (the namespace of
 * `import * as SDK from "@zohocrm/nodejs-sdk-8.0"`); the same module always
 * gets the same class.
 *
 * `new SDKTokenStore(spec, options)` takes the spec of open() (null: the
 * default store) and options, checked at once (a bad one throws an Error
 * whose code names why):
 *  - refreshAheadMs: 0 turns refresh ahead off; a number sets the
 *    library's refresh_ahead_ms; by default the one in force (oauth's, else
 *    the config file's, else the library's default). Asking for it on a
 *    readOnly store throws; without asking, a readOnly store does not
 *    refresh ahead.
 *  - oauth: OAuth settings as a config file's "oauth" section holds them
 *    ({ "accounts_url.EU": "https://...", retries: 2 }; OAUTH_SETTINGS).
 *  - onLog(level, message): hears the store's log lines and the adapter's
 *    own (a refresh ahead that failed); without it warnings become process
 *    warnings. logLevel: what it hears ("info" by default).
 *  - mustExist, readOnly: as open() takes them.
 */
export function sdkTokenStore(SDK) {
    const Base = SDK?.TokenStore?.TokenStore;
    if (typeof Base !== "function" || typeof SDK.OAuthToken !== "function")
        throw new TypeError("sdkTokenStore(SDK): pass the Zoho SDK module " +
                            '(import * as SDK from "@zohocrm/nodejs-sdk-8.0")');
    if (!classes.has(SDK))
        classes.set(SDK, makeClass(SDK, Base));
    return classes.get(SDK);
}

function makeClass(SDK, Base) {
    const fail = (e) => new SDK.SDKException(e.code ?? "TOKEN_STORE", e.message, null, null);

    function toPlain(token) {
        const plain = { user_name: token.getUserSignature?.()?.getName?.() ?? null };
        for (const [field, name] of ACCESSORS) {
            const v = token[`get${name}`]();
            plain[field] = absent(v) ? null : String(v);
        }
        return plain;
    }

    // Copies the stored values into the token's empty fields only.
    function fill(token, plain) {
        for (const [field, name] of ACCESSORS)
            if (absent(token[`get${name}`]()) && !absent(plain[field]))
                token[`set${name}`](plain[field]);
        if (absent(token.getUserSignature()) && !absent(plain.user_name))
            token.setUserSignature(new SDK.UserSignature(plain.user_name));
        return token;
    }

    // The SDK's environment (Initializer), or null outside the SDK.
    async function environment() {
        try {
            return (await SDK.Initializer?.getInitializer?.())?.getEnvironment?.() ?? null;
        } catch {
            return null;
        }
    }

    // The accounts server the SDK would send a token with this api_domain
    // to, when the library cannot know it: the SDK's environment's, for an
    // api_domain the SDK names no data center for (a test server, a
    // private one). undefined when the library knows.
    async function accountsHint(apiDomain) {
        try {
            if (!absent(apiDomain) && await SDK.DataCenter?.get?.(apiDomain))
                return undefined;
        } catch {
            // not a data center the SDK knows
        }
        return (await environment())?.getAccountsUrl?.() ?? undefined;
    }

    return class SDKTokenStore extends Base {
        #spec;
        #options;
        #ready = null;          // Promise of [Store, refresh ahead margin (0: none)]
        #aheadMs;               // 0: off; undefined: the library's in force
        #onLog;
        #unnamed = new WeakMap(); // SDK token -> id of its grant exchange, stored without a user

        constructor(spec = null, options = {}) {
            super();
            const { mustExist, readOnly, onLog, logLevel } = options;
            if (!absent(onLog) && typeof onLog !== "function")
                throw invalid("onLog must be a function (level, message)");
            this.#spec = spec;
            this.#options = { mustExist: !!mustExist, readOnly: !!readOnly,
                              oauth: settingsOf(options), onLog, logLevel };
            this.#aheadMs = options.refreshAheadMs === 0 || readOnly ? 0 : undefined;
            this.#onLog = onLog ?? null;
        }

        // Opened on first use: a constructor cannot wait.
        async #store() {
            this.#ready ??= open(this.#spec, this.#options).then((store) =>
                [store, this.#aheadMs ?? Number(store.oauthSetting("refresh_ahead_ms"))]);
            return this.#ready.catch((e) => { this.#ready = null; throw fail(e); });
        }

        #log(level, message) {
            if (this.#onLog)
                this.#onLog(level, message);
            else if (level === "error" || level === "warning")
                process.emitWarning(message, { type: "TokenstoreWarning", code: "TOKENSTORE" });
        }

        // Renews a stored token whose access token is missing or expires
        // within the margin; the library checks again under its lock, so
        // one request per expiry reaches the server. A failed refresh
        // leaves the token as it was (the SDK then tries itself); one held
        // back because another failed just now (TS_ERR_BACKOFF) is news
        // only to those who asked for "info".
        async #fresh(plain) {
            const [store, aheadMs] = await this.#store();
            const left = Number(plain.expiry_time) - Date.now();
            if (!(aheadMs > 0) || !plain.refresh_token || (plain.access_token && left >= aheadMs))
                return plain;
            try {
                return await store.accessToken({ id: plain.id, api_domain: plain.api_domain },
                                               { accountsUrl: await accountsHint(plain.api_domain) });
            } catch (e) {
                this.#log(e.code === "TS_ERR_BACKOFF" ? "info" : "warning",
                          `refreshing token ${plain.id} ahead failed: ${e.message}`);
                return plain;
            }
        }

        // A grant token the store does not hold yet: the library exchanges
        // it, once for every process that starts with it, and saves the
        // result. Its api_domain is the SDK environment's until the
        // accounts server names one, as the SDK sets it. A token whose user
        // nobody knows yet goes back to the SDK as the SDK holds a token it
        // has not saved (an access token, no id, no expiry), so that the
        // SDK asks the CRM whose it is and saves it with its user, through
        // saveToken, which then updates the stored row.
        async #exchange(store, token, plain) {
            if (absent(plain.api_domain))
                plain.api_domain = (await environment())?.getUrl?.() ?? null;
            const stored = await store.accessToken(plain, { accountsUrl: await accountsHint(plain.api_domain) })
                .catch((e) => { throw fail(e); });
            if (!absent(stored.user_name))
                return fill(token, stored);
            this.#unnamed.set(token, stored.id);
            return fill(token, { ...stored, id: null, expiry_time: null });
        }

        async findToken(token) {
            const [store] = await this.#store();
            const plain = toPlain(token);
            const found = await store.find(plain).catch((e) => { throw fail(e); });
            if (found)
                return fill(token, await this.#fresh(found));
            return plain.grant_token ? this.#exchange(store, token, plain) : null;
        }

        async findTokenById(id) {
            const [store] = await this.#store();
            const found = await store.findById(String(id)).catch((e) => { throw fail(e); });
            if (!found)
                throw new SDK.SDKException("TS_NOT_FOUND", `no token is stored with id ${id}`);
            return fill(Reflect.construct(SDK.OAuthToken, []), await this.#fresh(found));
        }

        async saveToken(token) {
            const [store] = await this.#store();
            const plain = toPlain(token);
            if (absent(plain.id) && this.#unnamed.has(token))
                plain.id = this.#unnamed.get(token);
            const saved = await store.save(plain).catch((e) => { throw fail(e); });
            this.#unnamed.delete(token);
            token.setId(saved.id);
            if (absent(token.getExpiresIn()) && !absent(saved.expiry_time))
                token.setExpiresIn(saved.expiry_time);
        }

        async deleteToken(id) {
            const [store] = await this.#store();
            await store.delete(String(id)).catch((e) => { throw fail(e); });
        }

        async getTokens() {
            const [store] = await this.#store();
            const all = await store.tokens().catch((e) => { throw fail(e); });
            return all.map((plain) => fill(Reflect.construct(SDK.OAuthToken, []), plain));
        }

        async deleteTokens() {
            const [store] = await this.#store();
            await store.clear().catch((e) => { throw fail(e); });
        }

        /** Closes the store; later calls reopen it. */
        async close() {
            const ready = this.#ready;
            this.#ready = null;
            if (ready)
                await (await ready)[0].close();
        }
    };
}
