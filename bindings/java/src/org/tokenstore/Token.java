package org.tokenstore;

import java.util.Arrays;
import java.util.Objects;

/**
 * A token: the Zoho SDK's ten fields, each a String or null (absent; an
 * empty string is absent too). expiryTime is epoch milliseconds in
 * decimal. {@link #toString()} masks the four secrets.
 */
public final class Token {
    /** The SDK's names of the fields, in the library's order. */
    public static final String[] FIELDS = { "id", "user_name", "client_id", "client_secret",
        "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url",
        "api_domain" };
    static final int COUNT = 10;
    private static final boolean[] SECRET = { false, false, false, true, true, true, true, false,
        false, false };

    final String[] values = new String[COUNT];

    public Token() {}

    /** A token for the user, as a find by user name takes it. */
    public static Token ofUser(String userName) {
        return new Token().setUserName(userName);
    }

    /** A copy of another token. */
    public Token(Token other) {
        System.arraycopy(other.values, 0, values, 0, COUNT);
    }

    private static int index(String field) {
        for (int i = 0; i < COUNT; i++)
            if (FIELDS[i].equals(field))
                return i;
        throw new IllegalArgumentException("no token field is named " + field
                                           + "; the fields are " + Arrays.toString(FIELDS));
    }

    /** The value of a field by its SDK name ("refresh_token"). */
    public String get(String field) {
        return values[index(field)];
    }

    /** Sets a field by its SDK name; returns this token. */
    public Token set(String field, String value) {
        values[index(field)] = value;
        return this;
    }

    public String getId() { return values[0]; }
    public String getUserName() { return values[1]; }
    public String getClientId() { return values[2]; }
    public String getClientSecret() { return values[3]; }
    public String getRefreshToken() { return values[4]; }
    public String getAccessToken() { return values[5]; }
    public String getGrantToken() { return values[6]; }
    public String getExpiryTime() { return values[7]; }
    public String getRedirectUrl() { return values[8]; }
    public String getApiDomain() { return values[9]; }

    public Token setId(String v) { values[0] = v; return this; }
    public Token setUserName(String v) { values[1] = v; return this; }
    public Token setClientId(String v) { values[2] = v; return this; }
    public Token setClientSecret(String v) { values[3] = v; return this; }
    public Token setRefreshToken(String v) { values[4] = v; return this; }
    public Token setAccessToken(String v) { values[5] = v; return this; }
    public Token setGrantToken(String v) { values[6] = v; return this; }
    public Token setExpiryTime(String v) { values[7] = v; return this; }
    public Token setRedirectUrl(String v) { values[8] = v; return this; }
    public Token setApiDomain(String v) { values[9] = v; return this; }

    private static String norm(String v) {
        return v == null || v.isEmpty() ? null : v;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Token))
            return false;
        Token t = (Token) o;
        for (int i = 0; i < COUNT; i++)
            if (!Objects.equals(norm(values[i]), norm(t.values[i])))
                return false;
        return true;
    }

    @Override
    public int hashCode() {
        int h = 1;
        for (String v : values)
            h = 31 * h + Objects.hashCode(norm(v));
        return h;
    }

    /** The fields that are set, the secrets as "****". */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("Token{");
        String sep = "";
        for (int i = 0; i < COUNT; i++) {
            if (norm(values[i]) == null)
                continue;
            b.append(sep).append(FIELDS[i]).append('=').append(SECRET[i] ? "****" : values[i]);
            sep = ", ";
        }
        return b.append('}').toString();
    }
}
