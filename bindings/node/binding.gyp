# bindings/node/binding.gyp - the addon as npm builds it (node-gyp), against
# the installed libtokenstore and libtokenstore-oauth that pkg-config
# finds; `make` builds the same sources with libtool instead (Makefile.am).
# build-addon.mjs runs node-gyp.
{
  "targets": [
    {
      "target_name": "tokenstore",
      "sources": ["addon.c", "env.c", "log.c", "queue.c", "settings.c", "values.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-fvisibility=hidden",
                 "<!@(node pkg-config.mjs cflags)"],
      "ldflags": ["<!@(node pkg-config.mjs rpath)"],
      "libraries": ["<!@(node pkg-config.mjs libs)", "-lpthread"]
    }
  ]
}
