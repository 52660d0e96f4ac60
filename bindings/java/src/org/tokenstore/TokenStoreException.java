package org.tokenstore;

import java.nio.charset.StandardCharsets;

/**
 * A failure of the library: {@link #code()} is its ts_code, {@link
 * #codeName()} the header's name for it ("TS_ERR_BUSY"), and the message
 * says what was wrong and where. Messages never hold a secret.
 */
public class TokenStoreException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The library's result codes (tokenstore/types.h). */
    public static final int NOT_FOUND = 1, INVALID = 2, NOMEM = 3, IO = 4, CONFIG = 5, LOAD = 6,
        ABI = 7, CORRUPT = 8, CONFLICT = 9, BUSY = 10, CONNECT = 11, AUTH = 12, TIMEOUT = 13,
        UNSUPPORTED = 14, BACKEND = 15, HTTP = 16, OAUTH = 17, READ_ONLY = 18, NO_STORE = 19,
        BACKOFF = 20;

    private final int code;

    public TokenStoreException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** Made by the native side: the message as the library's UTF-8. */
    static TokenStoreException fromNative(int code, byte[] message) {
        return new TokenStoreException(code, new String(message, StandardCharsets.UTF_8));
    }

    /** The library's code (a ts_code). */
    public int code() {
        return code;
    }

    /** The code's name as the header spells it, e.g. "TS_ERR_READ_ONLY". */
    public String codeName() {
        String name = Native.codeName(code);
        return name != null ? name : "TS_CODE_" + code;
    }

    @Override
    public String toString() {
        return getClass().getName() + ": " + codeName() + ": " + getMessage();
    }
}
