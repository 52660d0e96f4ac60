// bindings/node/build-addon.mjs - npm's install step: builds the addon
// (binding.gyp) with node-gyp into build/Release/tokenstore.node.
//
// node-gyp compiles against Node's headers, which it downloads unless told
// where they are. When npm_config_nodedir (--nodedir) names none, the
// headers installed with this very node are used when they are there
// (PREFIX/include/node/node_api.h: Debian's libnode-dev, NodeSource's
// nodejs, the official tarballs), so that the build needs no network.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const env = { ...process.env };
// node-gyp takes npm_config_nodedir over its --nodedir argument.
if (!env.npm_config_nodedir) {
    const prefixes = [process.config.variables.node_prefix, dirname(dirname(process.execPath))];
    const prefix = prefixes.find((p) => p && existsSync(join(p, "include", "node", "node_api.h")));
    if (prefix)
        env.npm_config_nodedir = prefix;
}

// npm names the node-gyp it bundles; otherwise the one on PATH.
const gyp = env.npm_config_node_gyp;
const [cmd, argv] = gyp ? [process.execPath, [gyp, "rebuild"]] : ["node-gyp", ["rebuild"]];
const run = spawnSync(cmd, argv, { cwd: here, env, stdio: "inherit" });
if (run.error) {
    console.error(`tokenstore: cannot run ${cmd}: ${run.error.message}` +
                  (gyp ? "" : " (install node-gyp, or run this through npm install)"));
    process.exit(1);
}
process.exit(run.status ?? 1);
