// bindings/node/store.mjs - libtokenstore for Node.js: a thin ESM layer
// over the Node-API addon (addon.c). It finds and loads the addon, turns
// the open flags into an options object and sends the library's warnings
// that no onLog hears to process.emitWarning. Every Store method runs off
// the event loop and returns a Promise; see README.md, "Using it from the
// Zoho Node.js SDK". The Zoho SDK adapter (sdk.mjs) builds on it, and
// index.mjs exports both.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The addon: $TOKENSTORE_NODE_ADDON (an out-of-tree build), else next to
// this file (make install), else node-gyp's build/Release/ (npm install),
// else libtool's .libs/ (the build tree).
function loadAddon() {
    const here = dirname(fileURLToPath(import.meta.url));
    const candidates = [process.env.TOKENSTORE_NODE_ADDON, join(here, "tokenstore.so"),
                        join(here, "build", "Release", "tokenstore.node"),
                        join(here, ".libs", "tokenstore.so")];
    const path = candidates.find((p) => p && existsSync(p));
    if (!path)
        throw new Error(`tokenstore: the addon was not found in ${here} (tokenstore.so, ` +
                        "build/Release/tokenstore.node or .libs/tokenstore.so): build it with " +
                        "npm install or make, or set TOKENSTORE_NODE_ADDON");
    const module = { exports: {} };
    process.dlopen(module, path);
    return module.exports;
}

const addon = loadAddon();

// The library's warnings and errors that no onLog hears (a Store opened
// without one, a config file others can read that holds a secret) become
// process warnings of this thread, where nothing hears them otherwise.
addon.setLogHandler((level, message) => {
    if (level === "error" || level === "warning")
        process.emitWarning(message, { type: "TokenstoreWarning", code: "TOKENSTORE" });
});

/** The library's version, e.g. "0.1.0". */
export const version = addon.version;

/** The SDK's ten field names, in its column order. */
export const FIELDS = Object.freeze(["id", "user_name", "client_id", "client_secret",
    "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url",
    "api_domain"]);

/**
 * The class of the objects open() resolves to: find, findById, save,
 * delete, tokens, clear, saveMany, close, and
 * accessToken(token, { refreshAheadMs, accountsUrl }), each a Promise
 * (accessToken's: the stored token with a valid access token; a held back
 * refresh rejects with code "TS_ERR_BACKOFF"); oauthSetting(key), the OAuth
 * setting in force as a string.
 */
export const Store = addon.Store;

/**
 * Every OAuth setting the library takes, as it lists them
 * (ts_oauth_settings): { name, default, min, max, summary }, min and max
 * null for a setting that is not a number; a name ending in ".*" is a
 * family ("accounts_url.EU").
 * @type {ReadonlyArray<{name: string, default: string, min: number|null, max: number|null, summary: string}>}
 */
export const OAUTH_SETTINGS = addon.oauthSettings;

/**
 * Checks OAuth settings as open() would take them, without opening
 * anything: throws an Error whose code is "TS_ERR_CONFIG" and whose
 * message is the library's ("oauth.refresh_ahead_ms: '1000' is not a whole
 * number from 5000 to 3000000") for a bad name or value.
 * @param {Object<string, string|number>} settings
 */
export function checkOAuth(settings) {
    addon.checkOAuth(settings);
}

/**
 * @callback LogHandler
 * @param {"error"|"warning"|"info"|"debug"} level
 * @param {string} message  never a secret
 */

/**
 * Opens a store: spec is a URI ("sqlite:/path/tokens.db",
 * "redis://host:6379/0"), the path of a JSON config file, or null for the
 * default configuration. Resolves to a Store.
 * @param {string|null} spec
 * @param {object} [options]
 * @param {boolean} [options.mustExist] never create a store
 * @param {boolean} [options.readOnly] never change it; implies mustExist
 * @param {Object<string, string|number>} [options.oauth] OAuth settings over
 *   the config file's "oauth" section (OAUTH_SETTINGS); a bad one rejects
 * @param {LogHandler} [options.onLog] hears the store's log lines, and the
 *   library's lines its calls cause (a config file others can read that
 *   holds a secret); without it warnings become process warnings
 * @param {"error"|"warning"|"info"|"debug"} [options.logLevel] what onLog
 *   hears, "info" by default
 * @returns {Promise<Store>}
 */
export function open(spec = null, { mustExist = false, readOnly = false, oauth, onLog,
                                    logLevel } = {}) {
    const flags = (mustExist ? addon.OPEN_MUST_EXIST : 0) | (readOnly ? addon.OPEN_READ_ONLY : 0);
    return addon.open(spec, flags, { oauth, onLog, logLevel });
}
