// bindings/node/pkg-config.mjs - what binding.gyp builds the addon with:
// the compiler and linker flags of the installed libtokenstore and its
// OAuth client, asked of pkg-config (`pkg-config --cflags --libs
// tokenstore-oauth`, which requires tokenstore).
//
//   node pkg-config.mjs cflags    the -I and -D flags
//   node pkg-config.mjs libs      -L and -l flags
//   node pkg-config.mjs rpath     -Wl,-rpath for each -L directory, so that
//                                 the addon finds a library installed in a
//                                 non-system prefix without LD_LIBRARY_PATH
//
// gyp splits what this prints on whitespace and fails the build on
// anything written to stderr, so this writes there only to say what is
// wrong and how to put it right.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const PKG = "tokenstore-oauth";
const pkgConfig = process.env.PKG_CONFIG || "pkg-config";
const wanted = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")).version;

function fail(message) {
    process.stderr.write(`tokenstore: ${message}\n`);
    process.exit(1);
}

function ask(...args) {
    try {
        return execFileSync(pkgConfig, [...args, PKG], { encoding: "utf8",
                                                         stdio: ["ignore", "pipe", "pipe"] }).trim();
    } catch (e) {
        if (e.code === "ENOENT")
            fail(`${pkgConfig} was not found: install pkg-config (Debian: apt-get install pkg-config), ` +
                 "or name another in PKG_CONFIG");
        const said = String(e.stderr ?? "").trim();
        fail(`${pkgConfig} ${args.join(" ")} ${PKG} failed${said ? `: ${said}` : ""}`);
    }
    return "";
}

// Found, and not older than this package: a missing library is the usual
// trouble, so say where it is looked for.
try {
    execFileSync(pkgConfig, ["--exists", PKG], { stdio: "ignore" });
} catch (e) {
    if (e.code === "ENOENT")
        ask("--exists");    // says that pkg-config itself is missing
    const path = process.env.PKG_CONFIG_PATH;
    fail(`${pkgConfig} does not find libtokenstore (${PKG}.pc): install it (\`make install\` in ` +
         "the tokenstore source tree), and if its prefix is not /usr or /usr/local, point " +
         "PKG_CONFIG_PATH at PREFIX/lib/pkgconfig " +
         (path ? `(PKG_CONFIG_PATH is ${path})` : "(PKG_CONFIG_PATH is not set)"));
}
const found = ask("--modversion");
try {
    execFileSync(pkgConfig, [`--atleast-version=${wanted}`, PKG], { stdio: "ignore" });
} catch {
    fail(`this package (tokenstore for Node.js ${wanted}) needs libtokenstore ${wanted} or later, ` +
         `but ${pkgConfig} finds ${found} (${ask("--variable=pcfiledir")}/${PKG}.pc)`);
}

const what = process.argv[2];
switch (what) {
case "cflags":
    process.stdout.write(`${ask("--cflags")}\n`);
    break;
case "libs":
    process.stdout.write(`${ask("--libs")}\n`);
    break;
case "rpath":
    process.stdout.write(ask("--libs-only-L").split(/\s+/).filter((f) => f.startsWith("-L"))
        .map((f) => `-Wl,-rpath,${f.slice(2)}`).join(" ") + "\n");
    break;
default:
    fail(`pkg-config.mjs: unknown request '${what ?? ""}' (cflags, libs or rpath)`);
}
