package org.tokenstore;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * Keeps a store's tokens valid, as ts_oauth does (Store.oauth makes one).
 * However many threads and processes share the store, one refresh request
 * per expiry reaches the accounts server; the others wait for it and use
 * its result. It may be shared by threads.
 */
public final class OAuthClient implements AutoCloseable {
    private final Store store;
    private long handle;   // guarded by the store's lock

    OAuthClient(Store store, long handle) {
        this.store = store;
        this.handle = handle;
    }

    /** The SDK refreshes an access token that expires within this long
     * itself (TS_OAUTH_SDK_MARGIN_MS); refresh_ahead_ms is never less. */
    public static long sdkMarginMs() {
        return Native.sdkMarginMs();
    }

    private long enter() {
        store.enter();
        if (handle == 0) {
            store.leave();
            throw new IllegalStateException("the OAuth client is closed");
        }
        return handle;
    }

    /** The value in force of an OAuth setting ("refresh_ahead_ms"), as
     * text: "" when it has none, a client_secret that is set as "****". */
    public String setting(String name) throws TokenStoreException {
        Objects.requireNonNull(name, "name");
        byte[] key = Codec.string(name, "OAuth setting name", TokenStoreException.CONFIG);
        long h = enter();
        try {
            return new String(Native.oauthGet(h, key), StandardCharsets.UTF_8);
        } finally {
            store.leave();
        }
    }

    /**
     * The stored token named by the query's id, else by its find key,
     * holding a valid access token: refreshed first when its access token
     * is missing or expires within refresh_ahead_ms, or, for a token that
     * is not stored but holds a grant token, exchanged and saved.
     * BACKOFF when a recent refresh of it failed (the message says when
     * the next try is allowed), OAUTH when the server refused.
     */
    public Token accessToken(Token query) throws TokenStoreException {
        Objects.requireNonNull(query, "query");
        byte[] raw = Codec.pack(query);
        long h = enter();
        try {
            return Codec.unpack(Native.oauthAccessToken(h, raw), new Token());
        } finally {
            store.leave();
            Arrays.fill(raw, (byte) 0);
        }
    }

    /** Called by the store, under its write lock. */
    void free() {
        if (handle != 0)
            Native.oauthFree(handle);
        handle = 0;
    }

    /** Frees the client once the calls in flight are over; calling it
     * again does nothing. */
    @Override
    public void close() {
        store.closeClient(this);
    }
}
