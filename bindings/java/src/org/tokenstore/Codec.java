package org.tokenstore;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Tokens and strings to the library's bytes and back. A value that C
 * cannot carry as the same text is refused, naming the field and the
 * index: a NUL character (C would end the value there) or a lone
 * surrogate (UTF-16 that is not text; Java would write '?' in its place,
 * so two different values would reach the store as one).
 */
final class Codec {
    private Codec() {}

    /** The index of the first char UTF-8 cannot carry as it is, or -1. */
    private static int bad(String s, boolean nulAllowed) {
        for (int i = 0, n = s.length(); i < n; i++) {
            char c = s.charAt(i);
            if (c < 0xD800) {
                if (c == 0 && !nulAllowed)
                    return i;
                continue;
            }
            if (c > 0xDFFF)
                continue;
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
                continue;
            }
            return i;
        }
        return -1;
    }

    private static String why(String s, int at) {
        return s.charAt(at) == 0 ? "holds a NUL character at index " + at
            : "holds a lone surrogate at index " + at + " (UTF-16 that is not text, which UTF-8 "
              + "cannot carry)";
    }

    /** s in UTF-8, refused with code when C could not carry it. */
    static byte[] string(String s, String what, int code) throws TokenStoreException {
        int at = bad(s, false);
        if (at >= 0)
            throw new TokenStoreException(code, what + " " + why(s, at));
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The ten values, UTF-8, joined by NUL. The caller wipes the result. */
    static byte[] pack(Token t) throws TokenStoreException {
        // A snapshot: another thread may set the token's fields meanwhile.
        String[] values = t.values.clone();
        int len = Token.COUNT - 1;
        for (int f = 0; f < Token.COUNT; f++) {
            String v = values[f];
            if (v == null)
                continue;
            int at = bad(v, false);
            if (at >= 0)
                throw new TokenStoreException(TokenStoreException.INVALID,
                                              "token field " + Token.FIELDS[f] + " " + why(v, at));
            len += utf8Length(v);
        }
        byte[] out = new byte[len];
        int p = 0;
        for (int f = 0; f < Token.COUNT; f++) {
            if (f > 0)
                out[p++] = 0;
            String v = values[f];
            if (v != null)
                p = encode(v, out, p);
        }
        return out;
    }

    private static int utf8Length(String s) {
        int n = 0;
        for (int i = 0, l = s.length(); i < l; i++) {
            char c = s.charAt(i);
            if (c < 0x80)
                n += 1;
            else if (c < 0x800)
                n += 2;
            else if (Character.isHighSurrogate(c)) {
                n += 4;
                i++;
            } else
                n += 3;
        }
        return n;
    }

    private static int encode(String s, byte[] out, int p) {
        for (int i = 0, l = s.length(); i < l; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                out[p++] = (byte) c;
            } else if (c < 0x800) {
                out[p++] = (byte) (0xC0 | c >> 6);
                out[p++] = (byte) (0x80 | c & 0x3F);
            } else if (Character.isHighSurrogate(c)) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                out[p++] = (byte) (0xF0 | cp >> 18);
                out[p++] = (byte) (0x80 | cp >> 12 & 0x3F);
                out[p++] = (byte) (0x80 | cp >> 6 & 0x3F);
                out[p++] = (byte) (0x80 | cp & 0x3F);
            } else {
                out[p++] = (byte) (0xE0 | c >> 12);
                out[p++] = (byte) (0x80 | c >> 6 & 0x3F);
                out[p++] = (byte) (0x80 | c & 0x3F);
            }
        }
        return p;
    }

    /** A packed token back into t (every field replaced); wipes raw. */
    static Token unpack(byte[] raw, Token t) {
        int start = 0, f = 0;
        for (int i = 0; i <= raw.length && f < Token.COUNT; i++) {
            if (i == raw.length || raw[i] == 0) {
                t.values[f++] = i == start ? null : decode(raw, start, i);
                start = i + 1;
            }
        }
        while (f < Token.COUNT)
            t.values[f++] = null;
        Arrays.fill(raw, (byte) 0);
        return t;
    }

    private static String decode(byte[] raw, int from, int to) {
        for (int i = from; i < to; i++)
            if (raw[i] < 0)
                return new String(raw, from, to - from, StandardCharsets.UTF_8);
        return new String(raw, from, to - from, StandardCharsets.ISO_8859_1);   // ASCII
    }
}
