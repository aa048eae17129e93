#!/usr/bin/env python3
"""Embed the portal's static files as a C table (no file at run time)."""
import os
import sys

out, files = sys.argv[1], sys.argv[2:]
types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
with open(out, "w") as f:
    f.write('#include <stddef.h>\n\nstruct portal_file {\n\tconst char *name, *ctype;\n'
            '\tconst unsigned char *data;\n\tsize_t len;\n};\n\n')
    names = []
    for i, p in enumerate(files):
        data = open(p, "rb").read()
        f.write("static const unsigned char f%d[] = {" % i)
        f.write(",".join(str(b) for b in data) or "0")
        f.write("};\n")
        names.append((os.path.basename(p), types.get(os.path.splitext(p)[1], "application/octet-stream"), i, len(data)))
    f.write("const struct portal_file serve_portal_files[] = {\n")
    for n, t, i, l in names:
        f.write('\t{ "%s", "%s", f%d, %d },\n' % (n, t, i, l))
    f.write("};\nconst size_t serve_portal_nfiles = %d;\n" % len(names))
