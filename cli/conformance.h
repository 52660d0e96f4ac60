/*
 * cli/conformance.h - the conformance suite any backend .so can be run
 * through (`tokenstore check-backend`).
 */
#ifndef TS_CLI_CONFORMANCE_H
#define TS_CLI_CONFORMANCE_H

#include <stdio.h>
#include <tokenstore/tokenstore.h>

/* The differential check's default: sequences, and the first seed. */
#define CLI_DIFFERENTIAL_SEQUENCES 200
#define CLI_DIFFERENTIAL_SEED 1

/*
 * Runs every check against stores opened from `config` (a backend and its
 * options; the store is emptied first, so point it at a scratch location).
 * The differential check runs `sequences` random sequences from `seed`
 * (0 for either: the defaults above). Prints TAP ("1..N", "ok 1 - ...",
 * "not ok 2 - ... # why") to out. Returns the number of failed checks, or
 * -1 when the store could not be opened at all (the reason is in err).
 */
int cli_conformance_run(const ts_config *config, unsigned sequences, uint64_t seed,
                        FILE *out, ts_error *err);

#endif
