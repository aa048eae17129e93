/* The web portal: static files embedded in the binary (portal/). */
#include <string.h>

#include "serve/internal.h"

struct portal_file {
	const char *name, *ctype;
	const unsigned char *data;
	size_t len;
};
extern const struct portal_file serve_portal_files[];
extern const size_t serve_portal_nfiles;

bool portal_serve(struct req *r, const char *url)
{
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		return false;
	const char *name = !strcmp(url, "/") ? "index.html" : !strncmp(url, "/portal/", 8) ? url + 8 : NULL;
	if (!name)
		return false;
	for (size_t i = 0; i < serve_portal_nfiles; i++)
		if (!strcmp(serve_portal_files[i].name, name)) {
			reply_add_header(r, "Content-Security-Policy",
					 "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
			reply_add_header(r, "Cache-Control", "no-cache");
			reply_text(r, 200, serve_portal_files[i].ctype, (const char *)serve_portal_files[i].data,
				   serve_portal_files[i].len);
			return true;
		}
	return false;
}
