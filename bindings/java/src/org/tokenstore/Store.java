package org.tokenstore;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An open store: the Zoho SDK's TokenStore operations over any backend
 * (memory, file, sqlite, redis, mysql, postgres), chosen by a URI or a
 * config file as ts_store_open takes them.
 *
 * A store may be shared by threads, as the C store may. {@link #close()}
 * waits for the calls in flight; a call on a closed store throws
 * IllegalStateException. Failures of the library are TokenStoreException
 * with its code; a null argument is NullPointerException naming it. The
 * store's log lines go to the java.util.logging logger "org.tokenstore",
 * up to the level it heard when the store was opened.
 */
public final class Store implements AutoCloseable {
    /** Never create a store: one that does not exist is NO_STORE. */
    public static final int MUST_EXIST = 1;
    /** Implies MUST_EXIST; the store is not changed, every write is READ_ONLY. */
    public static final int READ_ONLY = 2;

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Set<OAuthClient> clients = Collections.newSetFromMap(new IdentityHashMap<>());
    private long handle;
    private final boolean readOnly;

    private Store(long handle, boolean readOnly) {
        this.handle = handle;
        this.readOnly = readOnly;
    }

    /** The library's version, e.g. "0.1.0". */
    public static String libraryVersion() {
        return Native.version();
    }

    /** The configured store ($TOKENSTORE_CONFIG, the config files, else
     * the default sqlite store), created when it does not exist. */
    public static Store open() throws TokenStoreException {
        return open(null, 0);
    }

    /** The store a URI ("sqlite:/path/tokens.db") or JSON config file
     * names; null is the configured store. */
    public static Store open(String spec) throws TokenStoreException {
        return open(spec, 0);
    }

    /** As {@link #open(String)}, with MUST_EXIST and READ_ONLY flags. */
    public static Store open(String spec, int flags) throws TokenStoreException {
        if ((flags & ~(MUST_EXIST | READ_ONLY)) != 0)
            throw new TokenStoreException(TokenStoreException.INVALID,
                                          "flags: " + flags + " holds bits other than MUST_EXIST and READ_ONLY");
        byte[] raw = spec == null ? null : Codec.string(spec, "spec", TokenStoreException.CONFIG);
        try {
            return new Store(Native.open(raw, flags, Native.logLevel()), (flags & READ_ONLY) != 0);
        } finally {
            if (raw != null)
                Arrays.fill(raw, (byte) 0);   // a URI may hold a password
        }
    }

    /** Whether the store was opened READ_ONLY. */
    public boolean isReadOnly() {
        return readOnly;
    }

    long enter() {
        lock.readLock().lock();
        if (handle == 0) {
            lock.readLock().unlock();
            throw new IllegalStateException("the store is closed");
        }
        return handle;
    }

    void leave() {
        lock.readLock().unlock();
    }

    /**
     * The SDK's findToken: the stored token matching the query by the
     * SDK's key (user name; else access token without client id and
     * secret; else grant or refresh token with them), as a new Token: the
     * query's values, its absent ones filled from the stored token. null
     * when none matches; INVALID when the query has no key.
     */
    public Token find(Token query) throws TokenStoreException {
        Objects.requireNonNull(query, "query");
        byte[] raw = Codec.pack(query);
        long h = enter();
        try {
            byte[] found = Native.find(h, raw);
            return found == null ? null : Codec.unpack(found, new Token());
        } finally {
            leave();
            Arrays.fill(raw, (byte) 0);
        }
    }

    /** The token stored under id, or null when there is none. */
    public Token findById(String id) throws TokenStoreException {
        Objects.requireNonNull(id, "id");
        byte[] raw = Codec.string(id, "id", TokenStoreException.INVALID);
        long h = enter();
        try {
            byte[] found = Native.findById(h, raw);
            return found == null ? null : Codec.unpack(found, new Token());
        } finally {
            leave();
        }
    }

    /**
     * The SDK's saveToken: updates the token with the same id, else the
     * one with the same key, else inserts one with the next id. Sets the
     * token's id to the stored one and returns it.
     */
    public String save(Token token) throws TokenStoreException {
        Objects.requireNonNull(token, "token");
        byte[] raw = Codec.pack(token);
        long h = enter();
        try {
            String id = Native.save(h, raw);
            token.setId(id);
            return id;
        } finally {
            leave();
            Arrays.fill(raw, (byte) 0);
        }
    }

    /** Saves the tokens as save() would each, in order, in one transaction
     * where the backend has one (sqlite, file: all or none). Sets each
     * token's id; returns the ids. */
    public List<String> saveMany(Collection<Token> tokens) throws TokenStoreException {
        Objects.requireNonNull(tokens, "tokens");
        Token[] all = tokens.toArray(new Token[0]);
        byte[][] raw = new byte[all.length][];
        try {
            for (int i = 0; i < all.length; i++) {
                if (all[i] == null)
                    throw new NullPointerException("tokens[" + i + "]");
                try {
                    raw[i] = Codec.pack(all[i]);
                } catch (TokenStoreException e) {
                    throw new TokenStoreException(e.code(), "tokens[" + i + "]: " + e.getMessage());
                }
            }
            long h = enter();
            String[] ids;
            try {
                ids = Native.saveMany(h, raw);
            } finally {
                leave();
            }
            for (int i = 0; i < all.length; i++)
                all[i].setId(ids[i]);
            return Arrays.asList(ids);
        } finally {
            for (byte[] r : raw)
                if (r != null)
                    Arrays.fill(r, (byte) 0);
        }
    }

    /** Deletes the token stored under id; false when there is none. */
    public boolean delete(String id) throws TokenStoreException {
        Objects.requireNonNull(id, "id");
        byte[] raw = Codec.string(id, "id", TokenStoreException.INVALID);
        long h = enter();
        try {
            return Native.delete(h, raw);
        } finally {
            leave();
        }
    }

    /** Every token, in ascending id. */
    public List<Token> tokens() throws TokenStoreException {
        byte[][] all;
        long h = enter();
        try {
            all = Native.tokens(h);
        } finally {
            leave();
        }
        List<Token> out = new ArrayList<>(all.length);
        for (byte[] raw : all)
            out.add(Codec.unpack(raw, new Token()));
        return out;
    }

    /** Deletes every token. */
    public void clear() throws TokenStoreException {
        long h = enter();
        try {
            Native.clear(h);
        } finally {
            leave();
        }
    }

    /**
     * An OAuth client on this store (ts_oauth): settings from the config's
     * "oauth" section, then from settings (the names tokenstore.conf(5)
     * lists, e.g. "accounts_url.EU"), checked now. READ_ONLY for a store
     * opened read-only. It is closed with the store at the latest.
     */
    public OAuthClient oauth(Map<String, String> settings) throws TokenStoreException {
        List<byte[]> pairs = new ArrayList<>();
        try {
            if (settings != null) {
                for (Map.Entry<String, String> e : settings.entrySet()) {
                    String k = Objects.requireNonNull(e.getKey(), "an OAuth setting's name");
                    String v = Objects.requireNonNull(e.getValue(), "OAuth setting " + k);
                    pairs.add(Codec.string(k, "OAuth setting name", TokenStoreException.CONFIG));
                    pairs.add(Codec.string(v, "OAuth setting " + k, TokenStoreException.CONFIG));
                }
            }
            long h = enter();
            try {
                OAuthClient c = new OAuthClient(this, Native.oauthNew(h, pairs.toArray(new byte[0][])));
                synchronized (clients) {
                    clients.add(c);
                }
                return c;
            } finally {
                leave();
            }
        } finally {
            for (byte[] p : pairs)
                Arrays.fill(p, (byte) 0);
        }
    }

    /** Frees an OAuth client of this store (OAuthClient.close). */
    void closeClient(OAuthClient c) {
        lock.writeLock().lock();
        try {
            synchronized (clients) {
                if (clients.remove(c))
                    c.free();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Whether close() was called. */
    public boolean isClosed() {
        lock.readLock().lock();
        try {
            return handle == 0;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Closes the store and its OAuth clients, once the calls in flight
     * are over; calling it again does nothing. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            synchronized (clients) {
                for (OAuthClient c : clients)
                    c.free();
                clients.clear();
            }
            if (handle != 0)
                Native.close(handle);
            handle = 0;
        } finally {
            lock.writeLock().unlock();
        }
    }
}
