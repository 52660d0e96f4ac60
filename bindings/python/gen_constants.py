#!/usr/bin/env python3
"""bindings/python/gen_constants.py - writes tokenstore/_constants.py, the
C headers' constants and struct layouts that the Python package uses.

Read from <tokenstore/types.h> and <tokenstore/tokenstore.h>: TS_ERROR_MAX,
the ts_field names in order, TS_OK and TS_NOT_FOUND, the TS_OPEN_* flags,
the TS_LOG_* levels, TS_OAUTH_SDK_MARGIN_MS and the members of struct
ts_error and struct ts_oauth_setting, as ctypes types. The parse is
lexical (comments blanked, one typedef at a time), which fits the headers'
plain C. A constant that is missing, or that has a form this script does
not read, stops it with a message naming the header and the constant, and
nothing is written.

usage: gen_constants.py INCLUDEDIR OUTPUT
  (INCLUDEDIR holds tokenstore/types.h: core/include in the source tree)
"""
import os
import re
import sys

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
# An integer expression of the kind the headers' #defines use: "512",
# "(1u << 3)".
INT_EXPR = re.compile(r"^[\d\s()<|]+$")
# C member types and the ctypes type that mirrors each.
CTYPES = {
    "int": "ctypes.c_int",
    "unsigned": "ctypes.c_uint",
    "unsigned int": "ctypes.c_uint",
    "long long": "ctypes.c_longlong",
    "size_t": "ctypes.c_size_t",
    "uint32_t": "ctypes.c_uint32",
    "char *": "ctypes.c_char_p",
}


class Missing(Exception):
    """A constant the package needs that a header does not give."""


class Header:
    """One header's text, comments blanked."""

    def __init__(self, includedir, name):
        self.path = os.path.join(includedir, "tokenstore", name)
        self.name = "tokenstore/" + name
        try:
            with open(self.path, encoding="utf-8") as f:
                self.text = COMMENT.sub(" ", f.read())
        except OSError as e:
            raise Missing("cannot read %s: %s" % (self.path, e.strerror)) from None

    def fail(self, what, why):
        return Missing("%s: %s %s" % (self.path, what, why))

    def number(self, text, what):
        """The value of an integer expression, or Missing naming what."""
        expr = re.sub(r"\b(\d+)[uUlL]*\b", r"\1", text.strip())
        if not expr or not INT_EXPR.match(expr):
            raise self.fail(what, "is %r, not an integer this script reads" % text.strip())
        try:
            return int(eval(expr, {"__builtins__": {}}))
        except (SyntaxError, ValueError) as e:
            raise self.fail(what, "is %r, not an integer (%s)" % (text.strip(), e)) from None

    def define(self, name):
        """The integer value of `#define name`."""
        m = re.search(r"^[ \t]*#[ \t]*define[ \t]+%s[ \t]+(.+)$" % re.escape(name),
                      self.text, re.M)
        if not m:
            raise self.fail("#define " + name, "is not there")
        return self.number(m.group(1), "#define " + name)

    def body(self, kind, name):
        m = re.search(r"\btypedef\s+%s\s+%s\s*\{(.*?)\}\s*%s\s*;" % (kind, name, name),
                      self.text, re.S)
        if not m:
            raise self.fail("typedef %s %s { ... } %s;" % (kind, name, name), "is not there")
        return m.group(1)

    def enum(self, name):
        """[(member, value)] of `typedef enum name`, in order."""
        members, value = [], -1
        for item in self.body("enum", name).split(","):
            item = item.strip()
            if not item:
                continue
            m = re.match(r"^([A-Za-z_]\w*)\s*(?:=\s*(.+))?$", item, re.S)
            if not m:
                raise self.fail("enum %s" % name, "has a member %r this script does not read"
                                % item)
            value = self.number(m.group(2), m.group(1)) if m.group(2) else value + 1
            members.append((m.group(1), value))
        return members

    def member(self, enum, members, name):
        for member, value in members:
            if member == name:
                return value
        raise self.fail("enum %s" % enum, "has no member %s" % name)

    def struct(self, name):
        """[(member, ctypes type)] of `typedef struct name`, in order; an
        array's length may be a #define of this header."""
        fields = []
        for decl in self.body("struct", name).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            first, *more = decl.split(",")
            m = re.match(r"^([A-Za-z_][\w ]*?)\s*(\**\s*[A-Za-z_]\w*\s*(?:\[\s*\w+\s*\])?)$",
                         first)
            if not m:
                raise self.fail("struct %s" % name, "has a member %r this script does not read"
                                % decl)
            base = " ".join(w for w in m.group(1).split() if w != "const")
            for d in [m.group(2)] + more:
                d = d.replace(" ", "")
                a = re.match(r"^(\**)([A-Za-z_]\w*)(?:\[([A-Za-z_]\w*|\d+)\])?$", d)
                if not a:
                    raise self.fail("struct %s" % name, "has a member %r this script does "
                                    "not read" % decl)
                stars, member, length = a.groups()
                ctype = CTYPES.get(base + (" " + stars if stars else ""))
                if length is not None:
                    n = int(length) if length.isdigit() else self.define(length)
                    ctype = "ctypes.c_char * %d" % n if base == "char" and not stars else None
                if ctype is None:
                    raise self.fail("struct %s" % name, "member %s has the type %r, which "
                                    "this script does not map to ctypes" % (member, decl))
                fields.append((member, ctype))
        return fields


def constants(includedir):
    """The lines of _constants.py."""
    types = Header(includedir, "types.h")
    api = Header(includedir, "tokenstore.h")
    out = []

    def put(name, value, where):
        out.append("%s = %r  # %s" % (name, value, where))

    put("ERROR_MAX", types.define("TS_ERROR_MAX"), "TS_ERROR_MAX")

    fields = types.enum("ts_field")
    count = types.member("ts_field", fields, "TS_FIELD_COUNT")
    names = []
    for member, value in fields:
        if member == "TS_FIELD_COUNT":
            continue
        if not member.startswith("TS_FIELD_") or value != len(names):
            raise types.fail("enum ts_field", "member %s = %d is not TS_FIELD_<NAME> = %d"
                             % (member, value, len(names)))
        names.append(member[len("TS_FIELD_"):].lower())
    if count != len(names) or not names:
        raise types.fail("enum ts_field", "has TS_FIELD_COUNT = %d after %d fields"
                         % (count, len(names)))
    out.append("")
    out.append("# The SDK's names of the fields, in enum ts_field's order (the")
    out.append("# SDK's column order); the index of each is its ts_field.")
    out.append("FIELDS = (")
    out.extend("    %r,  # %s" % (n, "TS_FIELD_" + n.upper()) for n in names)
    out.append(")")

    out.append("")
    codes = types.enum("ts_code")
    for name in ("TS_OK", "TS_NOT_FOUND"):
        put(name[3:], types.member("ts_code", codes, name), name)

    out.append("")
    for name in ("TS_OPEN_MUST_EXIST", "TS_OPEN_READ_ONLY"):
        put(name[3:], types.define(name), name)

    out.append("")
    levels = types.enum("ts_log_level")
    for name in ("TS_LOG_ERROR", "TS_LOG_WARN", "TS_LOG_INFO", "TS_LOG_DEBUG"):
        put(name[3:], types.member("ts_log_level", levels, name), name)

    out.append("")
    out.append("# The SDK refreshes an access token that expires within this long.")
    put("OAUTH_SDK_MARGIN_MS", api.define("TS_OAUTH_SDK_MARGIN_MS"), "TS_OAUTH_SDK_MARGIN_MS")

    for var, header, struct in (("ERROR_FIELDS", types, "ts_error"),
                                ("OAUTH_SETTING_FIELDS", api, "ts_oauth_setting")):
        out.append("")
        out.append("# The members of struct %s (%s), as a ctypes Structure's"
                   % (struct, header.name))
        out.append("# _fields_.")
        out.append("%s = (" % var)
        out.extend("    (%r, %s)," % f for f in header.struct(struct))
        out.append(")")
    return out


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: gen_constants.py INCLUDEDIR OUTPUT\n")
        return 2
    includedir, output = argv[1], argv[2]
    try:
        lines = constants(includedir)
    except Missing as e:
        sys.stderr.write("gen_constants.py: %s; %s is not written\n" % (e, output))
        return 1
    text = '''"""tokenstore/_constants.py - the C headers' constants, as the package
uses them: written by bindings/python/gen_constants.py from
<tokenstore/types.h> and <tokenstore/tokenstore.h>, which make runs again
when they change. Do not edit: change the headers."""
import ctypes

%s
''' % "\n".join(lines)
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
