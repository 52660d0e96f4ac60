/*
 * cli/cmd_keys.c - the commands of encryption at rest: keygen (a new key
 * file) and rekey (every token sealed anew with the current key), and the
 * part of status that says how a store is encrypted and which key ids
 * its values need.
 *
 * The library does the work (ts_keygen, ts_store_rekey,
 * ts_store_key_usage); what is here is the wording. A key is only ever
 * named by its file and its id: no command prints one.
 */
#include <stdint.h>
#include <string.h>
#include "cli.h"

/* ---------------------------------------------------------------- keygen */

static int cmd_keygen(struct cli *cli)
{
    char id[TS_KEY_ID_SIZE];
    ts_error err = { 0 };
    int rc = ts_keygen(cli->args[0], id, &err);

    if (rc != TS_OK)
        return cli_store_error(rc, &err);
    if (!cli->quiet)
        printf("Wrote a new key to %s (key id %s, mode 0600). Keep a copy where the store's "
               "backups are not:\nthe tokens it encrypts cannot be read without it.\n",
               cli->args[0], id);
    return CLI_OK;
}

const struct cli_command cli_cmd_keygen = {
    "keygen", cmd_keygen, BIT(OPT_QUIET) | BIT(OPT_HELP) | BIT(OPT_VERSION), 1, 1,
    "keygen FILE",
    "write a new encryption key",
    "Writes a new key for encryption at rest to FILE: 32 random bytes from\n"
    "the kernel, in base64, in a file created with mode 0600. An existing\n"
    "file is never written over. Name it as the config's encrypt.key_file\n"
    "(or give its text in the variable encrypt.key_env names); the key's id,\n"
    "printed here, is what status and error messages call it.\n",
};

/* ---------------------------------------------------------------- usage */

static const char *const role_names[] = { "current", "old", "not configured", "unencrypted" };

struct usage_print {
    FILE *out;                    /* text, or NULL */
    json_object *keys;            /* a JSON array, or NULL */
    size_t shown;
};

static int print_usage(const ts_key_usage *u, void *userdata)
{
    struct usage_print *p = userdata;

    if (p->out && u->role == TS_KEY_PLAINTEXT)
        fprintf(p->out, "%s%zu token%s unencrypted", p->shown ? ", " : " ", u->tokens,
                u->tokens == 1 ? "" : "s");
    else if (p->out)
        fprintf(p->out, "%s%s %zu token%s (%s)", p->shown ? ", " : " ", u->key_id, u->tokens,
                u->tokens == 1 ? "" : "s", role_names[u->role]);
    p->shown++;
    if (p->keys) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "key_id", u->role == TS_KEY_PLAINTEXT
                                            ? NULL : json_object_new_string(u->key_id));
        json_object_object_add(o, "role", json_object_new_string(role_names[u->role]));
        json_object_object_add(o, "tokens", json_object_new_int64((int64_t)u->tokens));
        json_object_object_add(o, "values", json_object_new_int64((int64_t)u->values));
        json_object_array_add(p->keys, o);
    }
    return TS_OK;
}

/* The configured fields, as the library reads them ("" for its default). */
static const char *fields_of(const ts_config *cfg)
{
    const char *fields = ts_config_encrypt(cfg, "fields");
    return fields ? fields : "client_secret,refresh_token,access_token,grant_token";
}

/* status: the encryption the config asks for and, when the store is open,
 * the key ids its values are sealed with, counted in tokens. Into json
 * (an object) or as lines on out. */
int cli_encrypt_status(ts_store *store, const ts_config *cfg, json_object *json, FILE *out)
{
    const char *current = store ? ts_store_key_id(store) : NULL;
    const char *file = ts_config_encrypt(cfg, "key_file"), *env = ts_config_encrypt(cfg, "key_env");
    int configured = file || env;
    struct usage_print p = { out, json ? json_object_new_array() : NULL, 0 };
    ts_error err = { 0 };

    if (out && configured)
        fprintf(out, "encrypt:  %s %s%s%s, fields %s%s\n", file ? "key_file" : "key_env",
                file ? file : env, current ? ", key " : "", current ? current : "",
                fields_of(cfg), ts_config_encrypt(cfg, "allow_plaintext") ? ", allow_plaintext"
                                                                          : "");
    else if (out)
        fprintf(out, "encrypt:  off\n");
    if (out && store)
        fprintf(out, "key ids: ");
    int rc = store ? ts_store_key_usage(store, print_usage, &p, &err) : TS_OK;
    if (out && store)
        fprintf(out, "%s\n", rc != TS_OK ? " unknown, the store could not be read"
                             : p.shown ? "" : " none (nothing is encrypted)");
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "key_id", current ? json_object_new_string(current) : NULL);
        json_object_object_add(o, "fields", configured ? json_object_new_string(fields_of(cfg))
                                                       : NULL);
        json_object_object_add(o, "keys", store && rc == TS_OK ? p.keys : NULL);
        if (!store || rc != TS_OK)
            ts__json_release(p.keys);
        json_object_object_add(json, "encrypt", o);
    }
    return CLI_OK;
}

/* ---------------------------------------------------------------- rekey */

static int cmd_rekey(struct cli *cli)
{
    ts_store *store;
    ts_config *cfg;
    ts_rekey_result r;
    ts_error err = { 0 };
    int rc = cli_open_store(cli, cli->dry_run ? TS_OPEN_READ_ONLY : 0, &store, &cfg);

    if (rc != CLI_OK)
        return rc;
    if (cli->dry_run && !cli->quiet)
        cli_encrypt_status(store, cfg, NULL, stdout);
    int code = ts_store_rekey(store, cli->dry_run ? TS_REKEY_DRY_RUN : 0, &r, &err);
    if (code != TS_OK) {
        rc = cli_store_error(code, &err);
        if (!cli->dry_run && r.rewritten > 0)
            fprintf(stderr, "tokenstore: %zu token%s had been re-encrypted before it stopped; "
                    "run rekey again to go on\n", r.rewritten, r.rewritten == 1 ? "" : "s");
    } else if (!cli->quiet) {
        printf(cli->dry_run ? "Dry run, %zu token%s: %zu would be re-encrypted with key %s, "
                              "%zu already are. Nothing was written.\n"
                            : "%zu token%s: %zu re-encrypted with key %s, %zu already were.\n",
               r.tokens, r.tokens == 1 ? "" : "s", r.rewritten, ts_store_key_id(store),
               r.current);
    }
    ts_store_close(store);
    ts_config_free(cfg);
    return rc;
}

const struct cli_command cli_cmd_rekey = {
    "rekey", cmd_rekey, OPTS_GLOBAL | BIT(OPT_DRY_RUN), 0, 0,
    "rekey [--dry-run]",
    "encrypt every token anew with the current key",
    "Encrypts every token of the store (--config, --store) as its encrypt\n"
    "section says now: each listed field with the current key (encrypt.key_file\n"
    "or key_env), any other field unencrypted. It finishes a rotation (values\n"
    "of the keys in old_key_files are encrypted again, after which those keys\n"
    "can go) and a migration of a plain store (allow_plaintext can then go).\n"
    "Every value is decrypted first, and one that cannot be (a key that is not\n"
    "configured, a value that fails authentication) stops it, naming the token\n"
    "and field, before anything is written. sqlite, mysql and file stores are\n"
    "rewritten in one transaction; on others each token is saved alone, so a\n"
    "run that stops can be run again and goes on. A token another process\n"
    "saves meanwhile can lose that save: rekey while the applications are\n"
    "stopped. --dry-run prints the key ids in use and how many tokens would be\n"
    "encrypted anew, and writes nothing (the store is opened read-only).\n",
};
