// tests/node/package-use.mjs - what an application does with the installed
// binding: node package-use.mjs MODULE DB, MODULE being "tokenstore" (the
// npm-installed package, resolved from the directory this file is copied
// into) or the path of an installed index.mjs. Saves a token into the
// sqlite store DB, reopens it and finds it, and prints key=value lines for
// tests/node/package.test to check; also which addon and which library the
// process loaded (/proc/self/maps).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [what, db] = process.argv.slice(2);
const ts = await import(what.startsWith("/") ? pathToFileURL(what).href : what);
const out = {};
out.exports = Object.keys(ts).sort().join(" ");
out.version = ts.version;
out.methods = Object.getOwnPropertyNames(ts.Store.prototype).filter((n) => n !== "constructor")
    .sort().join(" ");

const store = await ts.open(`sqlite:${db}`);
const saved = await store.save({ user_name: "me@example.com", client_id: "1000.C",
                                 client_secret: "s3cret", refresh_token: "1000.r",
                                 expiry_time: 1700000000000 });
out.saved = saved.id;
await store.close();

const again = await ts.open(`sqlite:${db}`, { mustExist: true });
const found = await again.find({ user_name: "me@example.com" });
out.found = found && [found.id, found.user_name, found.client_id, found.client_secret,
                      found.refresh_token, found.access_token, found.expiry_time].join(",");
out.miss = String(await again.find({ user_name: "nobody@example.com" }));
out.refused = await again.save({ user_name: "x@example.com", refreshToken: "1000.r" })
    .then(() => "saved", (e) => `${e.code}: ${e.message}`);
await again.close();

const maps = readFileSync("/proc/self/maps", "utf8").split("\n").map((l) => l.split(/\s+/)[5] ?? "");
out.addon = maps.find((p) => /\/tokenstore\.(node|so)$/.test(p)) ?? "none";
out.library = maps.find((p) => /\/libtokenstore\.so/.test(p)) ?? "none";
for (const [k, v] of Object.entries(out))
    console.log(`${k}=${v}`);
