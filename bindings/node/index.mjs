// bindings/node/index.mjs - libtokenstore for Node.js.
//
// A thin ESM layer over the Node-API addon (addon.c): it finds and loads
// the addon, turns the open flags into an options object, and re-exports
// the Zoho SDK adapter (sdk.mjs). Every Store method runs off the event
// loop and returns a Promise; see README.md, "Using it from the Zoho
// Node.js SDK".
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The addon: $TOKENSTORE_NODE_ADDON (an out-of-tree build), else next to
// this file (installed), else libtool's .libs/ (the build tree).
function loadAddon() {
    const here = dirname(fileURLToPath(import.meta.url));
    const candidates = [process.env.TOKENSTORE_NODE_ADDON,
                        join(here, "tokenstore.so"), join(here, ".libs", "tokenstore.so")];
    const path = candidates.find((p) => p && existsSync(p));
    if (!path)
        throw new Error(`tokenstore: the addon tokenstore.so was not found next to ${here} ` +
                        "(build it with make, or set TOKENSTORE_NODE_ADDON)");
    const module = { exports: {} };
    process.dlopen(module, path);
    return module.exports;
}

const addon = loadAddon();

/** The library's version, e.g. "0.1.0". */
export const version = addon.version;

/** The SDK's ten field names, in its column order. */
export const FIELDS = Object.freeze(["id", "user_name", "client_id", "client_secret",
    "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url",
    "api_domain"]);

/** The class of the objects open() resolves to. */
export const Store = addon.Store;

/**
 * Opens a store: spec is a URI ("sqlite:/path/tokens.db",
 * "redis://host:6379/0"), the path of a JSON config file, or null for the
 * default configuration. Options: mustExist (never create a store) and
 * readOnly (never change it; implies mustExist). Resolves to a Store.
 */
export function open(spec = null, { mustExist = false, readOnly = false } = {}) {
    const flags = (mustExist ? addon.OPEN_MUST_EXIST : 0) | (readOnly ? addon.OPEN_READ_ONLY : 0);
    return addon.open(spec, flags);
}

export { sdkTokenStore } from "./sdk.mjs";
