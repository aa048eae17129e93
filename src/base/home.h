/* The user's home directory, resolved in one place for all of ferry:
 * $HOME when it is set to an absolute path, else the password database's
 * entry for the real uid (getpwuid). Never a guess such as /tmp: with HOME
 * unset (some batch systems) a world-writable fallback would let another
 * user plant a store, credentials or config there. */
#pragma once

#include "base/err.h"

/* The home directory (caller frees), or NULL with err filled in when
 * neither $HOME nor the password database names one. */
char *home_dir(struct ferr *err);
