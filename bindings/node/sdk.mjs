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
// throws the SDK's SDKException. With OAuth settings in the config file,
// findToken and findTokenById first renew a token that expires within
// refreshAheadMs through the library (told that margin as its
// refresh_ahead_ms), whose single flight lets one refresh per expiry reach
// the accounts server however many processes share the store.
import { readFile } from "node:fs/promises";
import { open } from "./index.mjs";

const DEFAULT_REFRESH_AHEAD_MS = 60000;
const MIN_REFRESH_AHEAD_MS = 5000;       // the SDK's own margin, the library's least
const MAX_REFRESH_AHEAD_MS = 3000000;    // the library's most

// The SDK token's getters and setters, by the library's field names.
const ACCESSORS = [
    ["id", "Id"], ["client_id", "ClientId"], ["client_secret", "ClientSecret"],
    ["refresh_token", "RefreshToken"], ["access_token", "AccessToken"],
    ["grant_token", "GrantToken"], ["expiry_time", "ExpiresIn"],
    ["redirect_url", "RedirectURL"], ["api_domain", "APIDomain"],
];

const absent = (v) => v === null || v === undefined;

// The "oauth" section of the config file a store came from, or null: only
// with one do we know which accounts server to ask.
async function oauthSection(origin) {
    if (!origin || origin === "URI" || origin === "default")
        return null;
    try {
        const { oauth } = JSON.parse(await readFile(origin, "utf8"));
        return typeof oauth === "object" && oauth !== null ? oauth : null;
    } catch {
        return null;     // the library read it; a race with an edit is no reason to fail
    }
}

// refreshAheadMs as given: undefined (the config's, else the default), 0
// (off) or a margin the library takes.
function checkAhead(ms) {
    if (ms === undefined || ms === null || ms === 0)
        return ms ?? undefined;
    if (!Number.isInteger(ms) || ms < MIN_REFRESH_AHEAD_MS || ms > MAX_REFRESH_AHEAD_MS)
        throw new RangeError(`refreshAheadMs: ${ms} is not 0 (off) or a whole number of ms ` +
                             `from ${MIN_REFRESH_AHEAD_MS} to ${MAX_REFRESH_AHEAD_MS}`);
    return ms;
}

const classes = new WeakMap();

/**
 * The SDKTokenStore class for the given SDK module (the namespace of
 * `import * as SDK from "@zohocrm/nodejs-sdk-8.0"`); the same module always
 * gets the same class. `new SDKTokenStore(spec, options)` takes the spec of
 * open() (null: the default store) and options: refreshAheadMs (0 turns
 * refresh ahead off, else 5000 to 3000000; by default the config's
 * oauth.refresh_ahead_ms, else 60000), mustExist, readOnly.
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

    return class SDKTokenStore extends Base {
        #spec;
        #options;
        #ready = null;          // Promise of [Store, refresh ahead margin (0: none)]
        #aheadMs;               // as given: undefined for the config's

        constructor(spec = null, options = {}) {
            super();
            this.#spec = spec;
            this.#options = { mustExist: !!options.mustExist, readOnly: !!options.readOnly };
            this.#aheadMs = checkAhead(options.refreshAheadMs);
        }

        // Opened on first use: a constructor cannot wait. Refresh ahead
        // needs the config's oauth section, which may set the margin too.
        async #store() {
            this.#ready ??= open(this.#spec, this.#options).then(async (store) => {
                const oauth = await oauthSection(store.origin);
                const ahead = this.#aheadMs ?? Number(oauth?.refresh_ahead_ms ?? DEFAULT_REFRESH_AHEAD_MS);
                return [store, oauth ? ahead : 0];
            });
            return this.#ready.catch((e) => { this.#ready = null; throw fail(e); });
        }

        // Renews a stored token that expires within the margin, which the
        // library checks again under its lock; a failed refresh leaves it
        // as it was (the SDK then tries itself).
        async #fresh(plain) {
            const [store, aheadMs] = await this.#store();
            const left = Number(plain.expiry_time) - Date.now();
            if (!(aheadMs > 0) || !plain.refresh_token || !(left < aheadMs))
                return plain;
            try {
                return await store.accessToken({ id: plain.id }, { refreshAheadMs: aheadMs });
            } catch (e) {
                process.emitWarning(`tokenstore: refreshing token ${plain.id} ahead failed: ${e.message}`);
                return plain;
            }
        }

        async findToken(token) {
            const [store] = await this.#store();
            const found = await store.find(toPlain(token)).catch((e) => { throw fail(e); });
            return found ? fill(token, await this.#fresh(found)) : null;
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
            const saved = await store.save(toPlain(token)).catch((e) => { throw fail(e); });
            token.setId(saved.id);
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
