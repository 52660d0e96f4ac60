/*
 * examples/app/app.c - what an application does before each Zoho CRM API
 * call: get a valid access token for a user and send it.
 *
 *     tokenstore-app CONFIG USER
 *
 * prints the Authorization header for USER's token. Everything about
 * where tokens live (sqlite, redis, a file, your own backend) and which
 * accounts server refreshes them is in CONFIG, so switching storage is an
 * edit of the config file, not a rebuild. The OAuth client refreshes the
 * access token only when it is missing or about to expire, and however
 * many processes share the store, one refresh request reaches Zoho.
 *
 * Build: cc app.c $(pkg-config --cflags --libs tokenstore-oauth)
 */
#include <stdio.h>
#include <tokenstore/tokenstore.h>

/* Prints the header for `user`; returns a ts_code. */
static int print_authorization(const char *config_path, const char *user, ts_error *err)
{
    ts_config *config = NULL;
    ts_store *store = NULL;
    ts_oauth *oauth = NULL;
    ts_token *token = ts_token_new();
    int rc = token ? TS_OK : TS_ERR_NOMEM;

    if (rc == TS_OK)
        rc = ts_config_load(&config, config_path, err);
    if (rc == TS_OK)
        rc = ts_store_open_config(&store, config, err);
    if (rc == TS_OK)   /* the config's "oauth" section applies */
        rc = ts_oauth_new(&oauth, store, config, err);
    if (rc == TS_OK)
        rc = ts_token_set(token, TS_FIELD_USER_NAME, user);
    if (rc == TS_OK)
        rc = ts_oauth_get_access_token(oauth, token, err);
    if (rc == TS_OK)
        printf("Authorization: Zoho-oauthtoken %s\n",
               ts_token_get(token, TS_FIELD_ACCESS_TOKEN));

    ts_token_free(token);       /* wipes the tokens it held */
    ts_oauth_free(oauth);
    ts_store_close(store);
    ts_config_free(config);
    return rc;
}

int main(int argc, char *argv[])
{
    ts_error err = { 0 };

    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG USER\n", argv[0]);
        return 2;
    }
    int rc = print_authorization(argv[1], argv[2], &err);
    if (rc != TS_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.message[0] ? err.message : ts_strerror(rc));
        return rc == TS_NOT_FOUND ? 1 : 3;
    }
    return 0;
}
