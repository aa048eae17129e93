/* The caller's entries in the host's user and group databases, as
 * getpwuid(3) and getgrgid(3) give them. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct host_user {
	char *name, *gecos, *dir, *shell; /* NULL: uid has no passwd entry */
	char *group;                      /* NULL: gid has no group entry */
};

/* glibc's NSS asks nscd first (a socket, twice per database), then reads
 * nsswitch.conf, then the sources it names: some thirty system calls at
 * every container start. When nsswitch.conf names "files" first for a
 * database and /etc/passwd (/etc/group) holds the id, that is NSS's answer
 * too, and it is read directly; anything else (sss, ldap, systemd first,
 * compat, the id missing from the file) goes through NSS as before. */
void host_user_get(uid_t uid, gid_t gid, struct host_user *out);
void host_user_free(struct host_user *u);

/* For tests: the same from other files ("files" first or not as
 * nsswitch says); the real ones are /etc/nsswitch.conf, /etc/passwd and
 * /etc/group. */
void host_user_get_from(const char *nsswitch, const char *passwd, const char *group, uid_t uid, gid_t gid,
			struct host_user *out);
